-- One city-network's traffic hour by hour (edit its id: `city_network_id` in any table or
-- health event, e.g. AS64499|geoname:2643743): a drop shows an outage.
-- SYN-ACKs in against SYNs out tell whether the network still answers our connections.
SELECT date_trunc('hour', window_start) AS hour_start,
       sum(bytes_in) AS bytes_in,
       sum(bytes_out) AS bytes_out,
       sum(flows) AS flows,
       sum(client_ips) AS client_ips_summed_over_windows,
       sum(tcp_syn_in) AS syn_in,
       sum(tcp_rst_in + tcp_rst_out) AS resets
FROM flowatlas.city_networks
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
  AND city_network_id = 'AS64499|geoname:2643743'
GROUP BY date_trunc('hour', window_start)
ORDER BY hour_start
