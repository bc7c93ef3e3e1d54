//! What the ZJMF API keeps about LXD containers: their product figures
//! (`lxd_containers`) and NAT rules (`nat_rules`). LXD holds the live state.

use diesel::prelude::*;

use super::DbError;
use super::schema::{lxd_containers as lc, nat_rules as nr};
use crate::domain::zjmf::Product;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = lc)]
pub struct LxdContainer {
    pub hostname: String,
    pub cpu: i32,
    pub disk_mb: i64,
    pub ram_mb: i64,
    pub up_mbit: i32,
    pub down_mbit: i32,
    pub ports_limit: i32,
    pub bandwidth_gb: i64,
    pub image: String,
    /// the create has not finished (see ops::zjmf::create)
    pub creating: bool,
}

fn int(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A container about to be created (`creating` until `created`); `DbError::Duplicate`
/// when the hostname has a row already.
pub fn insert(
    conn: &mut PgConnection,
    hostname: &str,
    p: &Product,
    image: &str,
) -> Result<(), DbError> {
    diesel::insert_into(lc::table)
        .values((
            lc::hostname.eq(hostname),
            lc::creating.eq(true),
            lc::cpu.eq(int(p.cpu)),
            lc::disk_mb.eq(big(p.disk_mb)),
            lc::ram_mb.eq(big(p.ram_mb)),
            lc::up_mbit.eq(int(p.up_mbit)),
            lc::down_mbit.eq(int(p.down_mbit)),
            lc::ports_limit.eq(int(p.ports)),
            lc::bandwidth_gb.eq(big(p.bandwidth_gb)),
            lc::image.eq(image),
        ))
        .execute(conn)?;
    Ok(())
}

/// The create finished: the container is the customer's.
pub fn created(conn: &mut PgConnection, hostname: &str) -> Result<(), DbError> {
    let n = diesel::update(lc::table.find(hostname))
        .set(lc::creating.eq(false))
        .execute(conn)?;
    super::found(n)
}

/// Containers whose create never finished (the server stopped halfway).
pub fn unfinished(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    Ok(lc::table
        .filter(lc::creating)
        .select(lc::hostname)
        .load(conn)?)
}

/// Every container the API made (or is making).
pub fn hostnames(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    Ok(lc::table
        .select(lc::hostname)
        .order(lc::hostname)
        .load(conn)?)
}

pub fn find(conn: &mut PgConnection, hostname: &str) -> Result<Option<LxdContainer>, DbError> {
    Ok(lc::table
        .find(hostname)
        .select(LxdContainer::as_select())
        .first(conn)
        .optional()?)
}

/// A reinstall's new image (no row for containers Suanli did not create: nothing to do).
pub fn set_image(conn: &mut PgConnection, hostname: &str, image: &str) -> Result<(), DbError> {
    diesel::update(lc::table.find(hostname))
        .set(lc::image.eq(image))
        .execute(conn)?;
    Ok(())
}

/// The container's row and NAT rules go (the container itself is already gone).
pub fn forget(conn: &mut PgConnection, hostname: &str) -> Result<(), DbError> {
    diesel::delete(nr::table.filter(nr::hostname.eq(hostname))).execute(conn)?;
    diesel::delete(lc::table.find(hostname)).execute(conn)?;
    Ok(())
}

/// The container's NAT rules go (its row stays); returns how many there were.
pub fn forget_rules(conn: &mut PgConnection, hostname: &str) -> Result<usize, DbError> {
    Ok(diesel::delete(nr::table.filter(nr::hostname.eq(hostname))).execute(conn)?)
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = nr)]
pub struct NatRule {
    pub id: i64,
    pub hostname: String,
    pub proto: String,
    pub ext_port: i32,
    pub int_port: i32,
    pub is_ssh: bool,
}

/// Every rule, by container and id (the order they are applied in).
pub fn all_rules(conn: &mut PgConnection) -> Result<Vec<NatRule>, DbError> {
    Ok(nr::table
        .order((nr::hostname, nr::id))
        .select(NatRule::as_select())
        .load(conn)?)
}

pub fn rules_of(conn: &mut PgConnection, hostname: &str) -> Result<Vec<NatRule>, DbError> {
    Ok(nr::table
        .filter(nr::hostname.eq(hostname))
        .order(nr::id)
        .select(NatRule::as_select())
        .load(conn)?)
}

/// Adds a rule; `DbError::Duplicate` when the external port is taken (any container).
pub fn add_rule(
    conn: &mut PgConnection,
    hostname: &str,
    proto: &str,
    ext_port: i32,
    int_port: i32,
    is_ssh: bool,
) -> Result<NatRule, DbError> {
    Ok(diesel::insert_into(nr::table)
        .values((
            nr::hostname.eq(hostname),
            nr::proto.eq(proto),
            nr::ext_port.eq(ext_port),
            nr::int_port.eq(int_port),
            nr::is_ssh.eq(is_ssh),
        ))
        .returning(NatRule::as_returning())
        .get_result(conn)?)
}

/// What `add_within_limit` did.
#[derive(Debug)]
pub enum Added {
    Rule(NatRule),
    /// the product's rule limit is reached
    OverLimit(i32),
}

/// Adds a customer's rule (not the SSH one) within the container's product limit. The
/// container's row is locked for the check, so two concurrent calls cannot both take the
/// last place; the automatic SSH rule does not count. Containers without a row (made by
/// the Flask backend) have no limit. `DbError::Duplicate` when the external port is taken.
pub fn add_within_limit(
    conn: &mut PgConnection,
    hostname: &str,
    proto: &str,
    ext_port: i32,
    int_port: i32,
) -> Result<Added, DbError> {
    conn.transaction(|c| {
        let limit: Option<i32> = lc::table
            .find(hostname)
            .select(lc::ports_limit)
            .for_update()
            .first(c)
            .optional()?;
        if let Some(limit) = limit {
            let taken: i64 = nr::table
                .filter(nr::hostname.eq(hostname))
                .filter(nr::is_ssh.eq(false))
                .count()
                .get_result(c)?;
            if taken >= i64::from(limit) {
                return Ok(Added::OverLimit(limit));
            }
        }
        Ok(Added::Rule(add_rule(
            c, hostname, proto, ext_port, int_port, false,
        )?))
    })
}

/// Removes the container's rule matching (proto, ext_port, int_port) and returns it;
/// None when there is none.
pub fn remove_rule(
    conn: &mut PgConnection,
    hostname: &str,
    proto: &str,
    ext_port: i32,
    int_port: i32,
) -> Result<Option<NatRule>, DbError> {
    // (proto, ext_port) is unique: one row at most
    Ok(diesel::delete(
        nr::table
            .filter(nr::hostname.eq(hostname))
            .filter(nr::proto.eq(proto))
            .filter(nr::ext_port.eq(ext_port))
            .filter(nr::int_port.eq(int_port)),
    )
    .returning(NatRule::as_returning())
    .get_result(conn)
    .optional()?)
}

/// Removes the rule `id` (undoing an add whose iptables change failed).
pub fn delete_rule(conn: &mut PgConnection, id: i64) -> Result<(), DbError> {
    diesel::delete(nr::table.find(id)).execute(conn)?;
    Ok(())
}

/// Puts a removed rule back as it was, id included (undoing a removal whose iptables
/// change failed: iptables still holds it under that id).
pub fn restore_rule(conn: &mut PgConnection, r: &NatRule) -> Result<(), DbError> {
    diesel::insert_into(nr::table)
        .values((
            nr::id.eq(r.id),
            nr::hostname.eq(&r.hostname),
            nr::proto.eq(&r.proto),
            nr::ext_port.eq(r.ext_port),
            nr::int_port.eq(r.int_port),
            nr::is_ssh.eq(r.is_ssh),
        ))
        .execute(conn)?;
    Ok(())
}

/// External ports in use for `proto`.
pub fn used_ports(conn: &mut PgConnection, proto: &str) -> Result<Vec<i32>, DbError> {
    Ok(nr::table
        .filter(nr::proto.eq(proto))
        .select(nr::ext_port)
        .load(conn)?)
}
