-- Slowest ISPs (client ASes) by the RTT p90 that flowatlas agent measured, across every host:
-- histograms merge exactly by adding weights (bytes) per bucket; the p90 is read off the
-- merged one (bucket i stands for 2 g^i / (g + 1) microseconds, g = 1.01 / 0.99). One ranking
-- per rtt_source: a TLS handshake time (load balancers) is a proxy for the RTT, never mixed in.
-- Edit the dt range; filtering on dt prunes partitions, so Athena scans only those days.
WITH buckets AS (
  SELECT rtt_source, client_asn, client_as_name, rtt_buckets[i] AS bucket, sum(rtt_weights[i]) AS weight
  FROM flowatlas.city_network_performance
  CROSS JOIN UNNEST(sequence(1, cardinality(rtt_buckets))) AS t (i)
  WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
  GROUP BY rtt_source, client_asn, client_as_name, rtt_buckets[i]
),
running AS (
  SELECT rtt_source, client_asn, client_as_name, bucket,
         sum(weight) OVER (PARTITION BY rtt_source, client_asn, client_as_name ORDER BY bucket
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_weight,
         sum(weight) OVER (PARTITION BY rtt_source, client_asn, client_as_name) AS total_weight
  FROM buckets
)
SELECT rtt_source,
       client_asn,
       client_as_name,
       round(min(2 * power(1.01 / 0.99, bucket) / (1.01 / 0.99 + 1)) / 1000, 1) AS rtt_p90_ms,
       max(total_weight) AS bytes
FROM running
WHERE running_weight >= 0.9 * total_weight
GROUP BY rtt_source, client_asn, client_as_name
ORDER BY rtt_source, rtt_p90_ms DESC
LIMIT 20
