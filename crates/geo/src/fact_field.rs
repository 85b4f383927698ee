//! The catalogue of what enrichment knows about an address ([`Facts`]), one row per fact: its
//! name, type and meaning. The tables' `client_*` columns, the `flows` table's `peer_*`
//! columns, the peer object of `flowatlas parse` and the readers of those tables are all made
//! from this one list, so a fact is added, named or documented in one place.

use std::sync::Arc;

use crate::mmdb::Facts;

/// How a fact is typed (tables map it to a column type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactKind {
    /// A 64-bit integer (AS numbers, GeoNames ids).
    Int64,
    /// A 32-bit integer (metro codes).
    Int32,
    /// A float (coordinates).
    Double,
    /// UTF-8 text.
    Text,
}

/// A fact's value, borrowed from its [`Facts`]; `None` when unknown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FactValue<'f> {
    /// For [`FactKind::Int64`] and [`FactKind::Int32`].
    Int(Option<i64>),
    /// For [`FactKind::Double`].
    Double(Option<f64>),
    /// For [`FactKind::Text`].
    Text(Option<&'f Arc<str>>),
}

macro_rules! catalogue {
    ($($variant:ident = $name:literal, $kind:ident, $city_network:literal, $doc:literal;)*) => {
        /// One fact of [`Facts`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FactField {
            $(
                #[doc = $doc]
                $variant,
            )*
        }

        impl FactField {
            /// Every fact, in the order tables and JSON list them.
            pub const ALL: &'static [FactField] = &[$(FactField::$variant),*];

            /// The fact's name, e.g. `as_name`: the key in JSON.
            pub const fn name(self) -> &'static str {
                match self { $(FactField::$variant => $name,)* }
            }

            /// The rollup tables' column, e.g. `client_as_name`; `None` for a fact that is
            /// not one value per city-network (a city has many postal codes).
            pub const fn client_column(self) -> Option<&'static str> {
                match self {
                    $(FactField::$variant => if $city_network {
                        Some(concat!("client_", $name))
                    } else {
                        None
                    },)*
                }
            }

            /// The `flows` table's column, e.g. `peer_as_name`.
            pub const fn peer_column(self) -> &'static str {
                match self { $(FactField::$variant => concat!("peer_", $name),)* }
            }

            /// How it is typed.
            pub const fn kind(self) -> FactKind {
                match self { $(FactField::$variant => FactKind::$kind,)* }
            }

            /// One line on what it holds.
            pub const fn doc(self) -> &'static str {
                match self { $(FactField::$variant => $doc,)* }
            }
        }
    };
}

catalogue! {
    Asn = "asn", Int64, true, "AS number; null when unknown.";
    AsName = "as_name", Text, true, "AS (ISP) name.";
    CountryCode = "country_code", Text, true, "ISO 3166-1 code of the country.";
    Country = "country", Text, true, "Country name (English).";
    SubdivisionCode = "subdivision_code", Text, true, "Code of the first subdivision (state).";
    Subdivision = "subdivision", Text, true, "First subdivision (state) name.";
    City = "city", Text, true, "City name (English).";
    GeonameId = "geoname_id", Int64, true, "GeoNames id of the place (city, else subdivision, else country) where the database has one.";
    MetroCode = "metro_code", Int32, true, "US metro (DMA) code.";
    Latitude = "latitude", Double, true, "Latitude of the network's location; in the rollup tables, of the city-network's network that carried the most bytes in the object (an attribute, not part of the identity).";
    Longitude = "longitude", Double, true, "Longitude, with the latitude.";
    PostalCode = "postal_code", Text, false, "Postal code as the database spells it.";
}

impl FactField {
    /// The fact's value in `facts`.
    pub fn value(self, facts: &Facts) -> FactValue<'_> {
        match self {
            FactField::Asn => FactValue::Int(facts.asn.map(i64::from)),
            FactField::AsName => FactValue::Text(facts.as_name.as_ref()),
            FactField::CountryCode => FactValue::Text(facts.country_code.as_ref()),
            FactField::Country => FactValue::Text(facts.country.as_ref()),
            FactField::SubdivisionCode => FactValue::Text(facts.subdivision_code.as_ref()),
            FactField::Subdivision => FactValue::Text(facts.subdivision.as_ref()),
            FactField::City => FactValue::Text(facts.city.as_ref()),
            FactField::GeonameId => FactValue::Int(facts.geoname_id.map(i64::from)),
            FactField::MetroCode => FactValue::Int(facts.metro_code.map(i64::from)),
            FactField::Latitude => FactValue::Double(facts.latitude),
            FactField::Longitude => FactValue::Double(facts.longitude),
            FactField::PostalCode => FactValue::Text(facts.postal_code.as_ref()),
        }
    }

    /// Sets the fact in `facts` from what a table holds: an integer out of the fact's range
    /// (a file not written by flowatlas) is unknown, as is a value of another type.
    pub fn set(self, facts: &mut Facts, value: FactInput) {
        let int = || match value {
            FactInput::Int(int) => int,
            _ => None,
        };
        let text = || match &value {
            FactInput::Text(text) => text.clone(),
            _ => None,
        };
        let double = || match value {
            FactInput::Double(double) => double,
            _ => None,
        };
        match self {
            FactField::Asn => facts.asn = int().and_then(|asn| u32::try_from(asn).ok()),
            FactField::AsName => facts.as_name = text(),
            FactField::CountryCode => facts.country_code = text(),
            FactField::Country => facts.country = text(),
            FactField::SubdivisionCode => facts.subdivision_code = text(),
            FactField::Subdivision => facts.subdivision = text(),
            FactField::City => facts.city = text(),
            FactField::GeonameId => {
                facts.geoname_id = int().and_then(|id| u32::try_from(id).ok());
            }
            FactField::MetroCode => {
                facts.metro_code = int().and_then(|code| i32::try_from(code).ok())
            }
            FactField::Latitude => facts.latitude = double(),
            FactField::Longitude => facts.longitude = double(),
            FactField::PostalCode => facts.postal_code = text(),
        }
    }
}

/// A fact's value as read from a table, for [`FactField::set`].
#[derive(Clone, Debug, PartialEq)]
pub enum FactInput {
    /// An integer cell.
    Int(Option<i64>),
    /// A float cell.
    Double(Option<f64>),
    /// A text cell, shared.
    Text(Option<Arc<str>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_reads_back_what_it_wrote() {
        let facts = Facts {
            asn: Some(64_499),
            as_name: Some(Arc::from("Albion Broadband")),
            country_code: Some(Arc::from("GB")),
            country: Some(Arc::from("United Kingdom")),
            subdivision_code: Some(Arc::from("ENG")),
            subdivision: Some(Arc::from("England")),
            city: Some(Arc::from("London")),
            metro_code: Some(819),
            latitude: Some(51.5),
            longitude: Some(-0.12),
            postal_code: Some(Arc::from("EC1A")),
            geoname_id: Some(2_643_743),
        };
        let mut copy = Facts::default();
        for &field in FactField::ALL {
            let input = match field.value(&facts) {
                FactValue::Int(int) => FactInput::Int(int),
                FactValue::Double(double) => FactInput::Double(double),
                FactValue::Text(text) => FactInput::Text(text.cloned()),
            };
            field.set(&mut copy, input);
        }
        assert_eq!(copy, facts);
        // Out of range is unknown, never wrapped.
        FactField::Asn.set(&mut copy, FactInput::Int(Some(-1)));
        assert_eq!(copy.asn, None);
        assert_eq!(FactField::PostalCode.client_column(), None);
        assert_eq!(FactField::AsName.client_column(), Some("client_as_name"));
        assert_eq!(FactField::AsName.peer_column(), "peer_as_name");
    }
}
