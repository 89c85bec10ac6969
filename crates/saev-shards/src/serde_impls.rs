//! How the config types read and write in JSON/TOML records: `patches` and
//! `layer` as their command-line spellings (`"cls"`, `"-2"`, `"all"`), a
//! `Scale` as saev's `bool | str` (`true`, `false` or a file path).

use std::path::PathBuf;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::normalize::Scale;
use crate::view::{Layer, Patches};

macro_rules! as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                /// A layer may be written as a number (`-2`) or a string.
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Text {
                    S(String),
                    I(i64),
                }
                let text = match Text::deserialize(d)? {
                    Text::S(s) => s,
                    Text::I(i) => i.to_string(),
                };
                text.parse().map_err(D::Error::custom)
            }
        }
    };
}

as_string!(Patches);
as_string!(Layer);

impl Serialize for Scale {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scale::Off => s.serialize_bool(false),
            Scale::Estimate => s.serialize_bool(true),
            Scale::File(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Scale {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            B(bool),
            P(PathBuf),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::B(true) => Scale::Estimate,
            Raw::B(false) => Scale::Off,
            Raw::P(p) => Scale::File(p),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::DataLoad;

    #[test]
    fn data_load_round_trips_through_json_in_saevs_spellings() {
        let d = DataLoad {
            scale_norm: crate::Scale::File("n.safetensors".into()),
            ..DataLoad::default()
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["patches"], "patches");
        assert_eq!(v["layer"], "-2");
        assert_eq!(v["scale_mean"], true);
        assert_eq!(v["scale_norm"], "n.safetensors");
        let back: DataLoad = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
        let numeric: DataLoad = serde_json::from_str(
            r#"{"shard_root":"s","patches":"cls","layer":-2,"clamp":1e5,"n_random_samples":8,"scale_mean":false,"scale_norm":true}"#,
        )
        .unwrap();
        assert_eq!(numeric.layer, crate::Layer::Index(-2));
        assert!(serde_json::from_str::<DataLoad>(r#"{"shard_root":"s"}"#).is_err());
    }
}
