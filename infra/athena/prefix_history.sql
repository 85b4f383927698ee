-- One client prefix's history, hour by hour (edit the prefix).
SELECT date_trunc('hour', window_start) AS hour_start,
       client_as_name,
       client_city,
       sum(bytes_in) AS bytes_in,
       sum(bytes_out) AS bytes_out,
       sum(flows) AS flows,
       sum(rejected_flows) AS rejected_flows
FROM flowatlas.client_prefixes
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
  AND client_prefix = '198.18.0.0/24'
GROUP BY date_trunc('hour', window_start), client_as_name, client_city
ORDER BY hour_start
