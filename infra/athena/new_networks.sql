-- City-networks seen for the first time in the last day of the range (edit both dates): new
-- ISPs or places your clients come from. Grouped by city_network_id (ASN + place), never by
-- coordinates, which differ between the networks of one city.
SELECT city_network_id,
       max_by(client_as_name, bytes_in + bytes_out) AS client_as_name,
       max_by(client_country_code, bytes_in + bytes_out) AS client_country_code,
       max_by(client_city, bytes_in + bytes_out) AS client_city,
       min(window_start) AS first_seen,
       sum(bytes_in + bytes_out) AS bytes
FROM flowatlas.city_networks
WHERE dt BETWEEN '2026-05-01' AND '2026-06-01'
GROUP BY account_id, region, city_network_id
HAVING min(dt) = '2026-06-01'
ORDER BY bytes DESC
LIMIT 50
