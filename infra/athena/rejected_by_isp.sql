-- Rejected traffic by ISP: scanners, blocked ports, or a security group that is too tight.
SELECT client_asn,
       client_as_name,
       sum(rejected_flows) AS rejected_flows,
       sum(flows) AS flows,
       round(100.0 * sum(rejected_flows) / sum(flows), 2) AS rejected_percent
FROM flowatlas.city_networks
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
GROUP BY client_asn, client_as_name
HAVING sum(rejected_flows) > 0
ORDER BY rejected_flows DESC
LIMIT 20
