-- Retransmissions by ISP (client AS), as flowatlas agent measured them on your hosts: segments
-- retransmitted per data segment sent (spurious retransmissions included).
-- Edit the dt range; filtering on dt prunes partitions, so Athena scans only those days.
SELECT client_asn,
       client_as_name,
       sum(segs_out) AS segs_out,
       sum(retrans_segs) AS retrans_segs,
       round(100.0 * sum(retrans_segs) / nullif(sum(segs_out), 0), 3) AS retransmit_percent
FROM flowatlas.city_network_performance
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
GROUP BY client_asn, client_as_name
HAVING sum(segs_out) > 0
ORDER BY retransmit_percent DESC
LIMIT 20
