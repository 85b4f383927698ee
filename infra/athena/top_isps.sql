-- Top ISPs (client ASes) by traffic, with their share of the total.
-- Edit the dt range; filtering on dt prunes partitions, so Athena scans only those days.
SELECT client_asn,
       client_as_name,
       sum(bytes_in) AS bytes_in,
       sum(bytes_out) AS bytes_out,
       sum(flows) AS flows,
       round(100.0 * sum(bytes_in + bytes_out) / sum(sum(bytes_in + bytes_out)) OVER (), 2) AS share_percent
FROM flowatlas.city_networks
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
GROUP BY client_asn, client_as_name
ORDER BY sum(bytes_in + bytes_out) DESC
LIMIT 20
