-- Health events, as Internet Monitor raises them: the most impactful first, with where and when
-- (edit the dt range). The scheduled health mode of the function writes them every 5 minutes.
SELECT event_id,
       impact_type,
       status,
       started_at,
       detected_at,
       ended_at,
       peak_percent_of_total_traffic_impacted,
       lowest_availability_score,
       impacted_city_networks,
       impacted_asns,
       impacted_prefixes
FROM flowatlas.health_events
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
ORDER BY peak_percent_of_total_traffic_impacted DESC
LIMIT 50
