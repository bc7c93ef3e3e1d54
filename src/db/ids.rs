//! The domain's id types as their `bigint` columns: read straight from them (also when
//! nullable: `Option<CompanyId>`) and compared or written as the `i64` they wrap.

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Nullable};

use crate::domain::ids::{CompanyId, InstanceId, NodeId, UserId};

macro_rules! column_id {
    ($($name:ident),*) => {$(
        impl FromSql<BigInt, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                <i64 as FromSql<BigInt, Pg>>::from_sql(bytes).map($name)
            }
        }

        impl Queryable<BigInt, Pg> for $name {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl ToSql<BigInt, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, out)
            }
        }

        impl AsExpression<BigInt> for $name {
            type Expression = <i64 as AsExpression<BigInt>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<BigInt>::as_expression(self.0)
            }
        }

        impl AsExpression<Nullable<BigInt>> for $name {
            type Expression = <i64 as AsExpression<Nullable<BigInt>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<Nullable<BigInt>>::as_expression(self.0)
            }
        }

        impl<'a> AsExpression<BigInt> for &'a $name {
            type Expression = <&'a i64 as AsExpression<BigInt>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<BigInt>::as_expression(&self.0)
            }
        }

        impl<'a> AsExpression<Nullable<BigInt>> for &'a $name {
            type Expression = <&'a i64 as AsExpression<Nullable<BigInt>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                AsExpression::<Nullable<BigInt>>::as_expression(&self.0)
            }
        }
    )*};
}

column_id!(InstanceId, UserId, CompanyId, NodeId);
