//! Country outlines for the map: Natural Earth's 1:110m countries as TopoJSON from the npm
//! package `world-atlas` 2.0.2, checked in unchanged (`assets/world-atlas/`, with its license)
//! and decoded here into one SVG path in the map's projection.

use std::fmt::Write;
use std::sync::OnceLock;

use serde_json::Value;

/// The TopoJSON file, embedded at build time.
const TOPOLOGY: &str = include_str!("../assets/world-atlas/countries-110m.json");

/// The map's width in SVG units; the height follows from [`NORTH`] and [`SOUTH`].
pub const WIDTH: f64 = 960.0;
/// Northernmost latitude shown.
pub const NORTH: f64 = 84.0;
/// Southernmost latitude shown: Antarctica is left off, no city-network is there.
pub const SOUTH: f64 = -58.0;
/// Natural Earth's numeric code of Antarctica (ISO 3166-1 numeric 010).
const ANTARCTICA: &str = "010";

/// The map's height in SVG units.
pub fn height() -> f64 {
    (NORTH - SOUTH) * WIDTH / 360.0
}

/// Equirectangular projection of a longitude and latitude into the map's units.
pub fn project(longitude: f64, latitude: f64) -> (f64, f64) {
    let scale = WIDTH / 360.0;
    ((longitude + 180.0) * scale, (NORTH - latitude) * scale)
}

/// Every country's outline as one SVG path (`d`), decoded once; empty if the embedded file
/// cannot be decoded, which the tests rule out.
pub fn outlines() -> &'static str {
    static OUTLINES: OnceLock<String> = OnceLock::new();
    OUTLINES.get_or_init(|| decode(TOPOLOGY).unwrap_or_default())
}

/// TopoJSON → one path: arcs are delta-encoded quantized points; a ring lists arc indices,
/// a negative index `!i` meaning arc `i` reversed; consecutive arcs share their end point.
fn decode(topology: &str) -> Option<String> {
    let topology: Value = serde_json::from_str(topology).ok()?;
    let transform = &topology["transform"];
    let pair = |value: &Value| Some((value[0].as_f64()?, value[1].as_f64()?));
    let (scale_x, scale_y) = pair(&transform["scale"])?;
    let (translate_x, translate_y) = pair(&transform["translate"])?;
    let arcs: Vec<Vec<(f64, f64)>> = topology["arcs"]
        .as_array()?
        .iter()
        .map(|arc| {
            let (mut x, mut y) = (0.0, 0.0);
            arc.as_array()?
                .iter()
                .map(|delta| {
                    let (dx, dy) = pair(delta)?;
                    x += dx;
                    y += dy;
                    Some(project(
                        x * scale_x + translate_x,
                        y * scale_y + translate_y,
                    ))
                })
                .collect()
        })
        .collect::<Option<_>>()?;
    let mut path = String::new();
    for country in topology["objects"]["countries"]["geometries"].as_array()? {
        if country["id"].as_str() == Some(ANTARCTICA) {
            continue;
        }
        let polygons: Vec<&Value> = match country["type"].as_str()? {
            "Polygon" => vec![&country["arcs"]],
            "MultiPolygon" => country["arcs"].as_array()?.iter().collect(),
            _ => continue,
        };
        for ring in polygons
            .iter()
            .flat_map(|polygon| polygon.as_array())
            .flatten()
        {
            write_ring(&mut path, &arcs, ring.as_array()?)?;
        }
    }
    Some(path)
}

/// One closed ring, points rounded to a tenth of a unit and repeats dropped.
fn write_ring(path: &mut String, arcs: &[Vec<(f64, f64)>], ring: &[Value]) -> Option<()> {
    let mut last = None;
    for (position, index) in ring.iter().enumerate() {
        let index = index.as_i64()?;
        let arc = arcs.get(if index < 0 { !index } else { index } as usize)?;
        let points: Box<dyn Iterator<Item = &(f64, f64)>> = if index < 0 {
            Box::new(arc.iter().rev())
        } else {
            Box::new(arc.iter())
        };
        for (x, y) in points.skip(usize::from(position > 0)) {
            let point = ((x * 10.0).round() as i64, (y * 10.0).round() as i64);
            if last == Some(point) {
                continue;
            }
            // Rings that cross the antimeridian (Russia, Fiji) jump across the whole map:
            // the jump starts a new subpath instead of a line over the world.
            let jumps = last.is_some_and(|(last_x, _): (i64, i64)| {
                (point.0 - last_x).abs() as f64 > WIDTH * 10.0 / 2.0
            });
            let command = if last.is_none() || jumps { 'M' } else { 'L' };
            let _ = write!(
                path,
                "{command}{} {}",
                point.0 as f64 / 10.0,
                point.1 as f64 / 10.0
            );
            last = Some(point);
        }
    }
    path.push('Z');
    Some(())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// SHA-256 of `countries-110m.json` as published in `world-atlas` 2.0.2.
    const PINNED_SHA256: &str = "2516c915867c7baf18ddec727aec46c315541a07cfb3d79a6559b05d5e94eee8";

    #[test]
    fn the_outlines_are_the_pinned_copy() {
        let digest = Sha256::digest(TOPOLOGY.as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, PINNED_SHA256);
    }

    #[test]
    fn every_country_but_antarctica_is_drawn_inside_the_map() {
        let path = outlines();
        // 177 countries, some with many islands: one closed ring each.
        let rings = path.matches('Z').count();
        assert!(rings > 177, "{rings} rings");
        let numbers = path
            .split(['M', 'L', 'Z', ' '])
            .filter(|part| !part.is_empty())
            .map(|part| part.parse::<f64>().unwrap());
        for number in numbers {
            assert!((-1.0..=WIDTH + 1.0).contains(&number), "{number}");
        }
        // London is in the British Isles, north-west of the map's middle.
        let (x, y) = project(-0.13, 51.5);
        assert!(x < WIDTH / 2.0 && y < height() / 2.0);
    }
}
