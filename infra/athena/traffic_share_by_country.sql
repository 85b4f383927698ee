-- Share of traffic by client country.
SELECT client_country_code,
       client_country,
       sum(bytes_in + bytes_out) AS bytes,
       round(100.0 * sum(bytes_in + bytes_out) / sum(sum(bytes_in + bytes_out)) OVER (), 2) AS share_percent
FROM flowatlas.city_networks
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
GROUP BY client_country_code, client_country
ORDER BY bytes DESC
