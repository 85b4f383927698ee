-- Top client cities by traffic, with their share of the total. A place is its GeoNames id
-- where the database has one, else country, subdivision and city; names and coordinates are
-- attributes (each network of a city may carry its own coordinates), shown from the busiest row.
SELECT max_by(client_country_code, bytes_in + bytes_out) AS client_country_code,
       max_by(client_subdivision, bytes_in + bytes_out) AS client_subdivision,
       max_by(client_city, bytes_in + bytes_out) AS client_city,
       sum(bytes_in) AS bytes_in,
       sum(bytes_out) AS bytes_out,
       sum(flows) AS flows,
       round(100.0 * sum(bytes_in + bytes_out) / sum(sum(bytes_in + bytes_out)) OVER (), 2) AS share_percent
FROM flowatlas.city_networks
WHERE dt BETWEEN '2026-06-01' AND '2026-06-07'
GROUP BY client_geoname_id,
         CASE WHEN client_geoname_id IS NULL THEN client_country_code END,
         CASE WHEN client_geoname_id IS NULL THEN coalesce(client_subdivision_code, client_subdivision) END,
         CASE WHEN client_geoname_id IS NULL THEN client_city END
ORDER BY sum(bytes_in + bytes_out) DESC
LIMIT 20
