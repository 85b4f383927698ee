//! Longest-prefix match over IPv4 and IPv6 networks: one hash map per prefix length in use.

use std::net::IpAddr;

// Looked up on every record: foldhash, not SipHash, whose cost showed in profiles.
use foldhash::HashMap;

use ipnetwork::IpNetwork;

/// Values keyed by network; a lookup finds the most specific network holding an address.
#[derive(Clone, Debug)]
pub struct PrefixMap<T> {
    /// Per prefix length (IPv4 lengths 0–32, IPv6 0–128), longest first.
    v4: Vec<(u8, HashMap<u32, T>)>,
    v6: Vec<(u8, HashMap<u128, T>)>,
    len: usize,
}

impl<T> Default for PrefixMap<T> {
    fn default() -> PrefixMap<T> {
        PrefixMap {
            v4: Vec::new(),
            v6: Vec::new(),
            len: 0,
        }
    }
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

fn slot<K, T>(lengths: &mut Vec<(u8, HashMap<K, T>)>, prefix: u8) -> &mut HashMap<K, T> {
    let idx = match lengths.iter().position(|(len, _)| *len <= prefix) {
        Some(idx) if lengths[idx].0 == prefix => idx,
        Some(idx) => {
            lengths.insert(idx, (prefix, HashMap::default()));
            idx
        }
        None => {
            lengths.push((prefix, HashMap::default()));
            lengths.len() - 1
        }
    };
    &mut lengths[idx].1
}

impl<T> PrefixMap<T> {
    /// Sets the value of a network, returning the value it replaces.
    pub fn insert(&mut self, network: IpNetwork, value: T) -> Option<T> {
        let replaced = match network {
            IpNetwork::V4(net) => {
                let key = mask_v4(u32::from(net.ip()), net.prefix());
                slot(&mut self.v4, net.prefix()).insert(key, value)
            }
            IpNetwork::V6(net) => {
                let key = mask_v6(u128::from(net.ip()), net.prefix());
                slot(&mut self.v6, net.prefix()).insert(key, value)
            }
        };
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// The value of exactly this network.
    pub fn get_mut(&mut self, network: IpNetwork) -> Option<&mut T> {
        match network {
            IpNetwork::V4(net) => {
                let key = mask_v4(u32::from(net.ip()), net.prefix());
                let (_, map) = self.v4.iter_mut().find(|(len, _)| *len == net.prefix())?;
                map.get_mut(&key)
            }
            IpNetwork::V6(net) => {
                let key = mask_v6(u128::from(net.ip()), net.prefix());
                let (_, map) = self.v6.iter_mut().find(|(len, _)| *len == net.prefix())?;
                map.get_mut(&key)
            }
        }
    }

    /// The most specific network holding `ip`, with its value.
    #[inline]
    pub fn longest_match(&self, ip: IpAddr) -> Option<(u8, &T)> {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4
                    .iter()
                    .find_map(|(len, map)| map.get(&mask_v4(bits, *len)).map(|value| (*len, value)))
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                self.v6
                    .iter()
                    .find_map(|(len, map)| map.get(&mask_v6(bits, *len)).map(|value| (*len, value)))
            }
        }
    }

    /// Number of networks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no network is set.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every network.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_network_wins() {
        let mut map = PrefixMap::default();
        map.insert("10.0.0.0/8".parse().unwrap(), "wide");
        map.insert("10.1.0.0/16".parse().unwrap(), "narrow");
        map.insert("2001:db8::/32".parse().unwrap(), "v6");
        assert_eq!(
            map.longest_match("10.1.2.3".parse().unwrap()),
            Some((16, &"narrow"))
        );
        assert_eq!(
            map.longest_match("10.2.2.3".parse().unwrap()),
            Some((8, &"wide"))
        );
        assert_eq!(map.longest_match("11.0.0.1".parse().unwrap()), None);
        assert_eq!(
            map.longest_match("2001:db8:1::1".parse().unwrap()),
            Some((32, &"v6"))
        );
        assert_eq!(map.longest_match("2001:db9::1".parse().unwrap()), None);
        assert_eq!(map.len(), 3);
        // A network written with host bits set is the same network.
        assert_eq!(
            map.insert("10.1.2.3/16".parse().unwrap(), "again"),
            Some("narrow")
        );
    }
}
