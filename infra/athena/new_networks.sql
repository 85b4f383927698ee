-- City-networks seen for the first time in the last day of the range (edit both dates): new
-- ISPs or places your clients come from.
SELECT client_asn,
       client_as_name,
       client_country_code,
       client_city,
       min(window_start) AS first_seen,
       sum(bytes_in + bytes_out) AS bytes
FROM flowatlas.city_networks
WHERE dt BETWEEN '2026-05-01' AND '2026-06-01'
GROUP BY client_asn, client_as_name, client_country_code, client_city
HAVING min(dt) = '2026-06-01'
ORDER BY bytes DESC
LIMIT 50
