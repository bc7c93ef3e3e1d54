//! The ids that cross layers, each its own type, so a user id cannot be passed where an
//! instance id is wanted. They are the rows' `bigint` keys; paths and forms read them
//! from their decimal text, templates print them the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize,
            Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl log::kv::ToValue for $name {
            fn to_value(&self) -> log::kv::Value<'_> {
                log::kv::Value::from(self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

id_type!(
    /// A GPU instance (`instances.id`).
    InstanceId
);
id_type!(
    /// A user account (`users.id`).
    UserId
);
id_type!(
    /// A company, the tenant its members share (`companies.id`).
    CompanyId
);
id_type!(
    /// A GPU machine running Docker (`nodes.id`).
    NodeId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_print_as_their_number() {
        let id: InstanceId = "42".parse().unwrap_or(InstanceId(0));
        assert_eq!(
            (id, id.to_string(), id.get()),
            (InstanceId(42), "42".into(), 42)
        );
        assert!("4x".parse::<UserId>().is_err());
        let json = serde_json::to_string(&NodeId(7)).unwrap_or_default();
        assert_eq!(json, "7");
        assert_eq!(
            serde_json::from_str::<CompanyId>("9").ok(),
            Some(CompanyId(9))
        );
    }
}
