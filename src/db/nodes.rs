//! The nodes (算力节点) table. Secrets (SSH password, TLS client key) are stored
//! encrypted and never selected into `Node`: the row only says whether they are set.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::nodes;
use super::{DbError, found};
use crate::domain::catalog::NewNode;
use crate::domain::ids::NodeId;
use crate::domain::listing::{ListQuery, Page};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = nodes)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub region: String,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
    pub public_ip: String,
    pub private_ip: String,
    pub ssh_port: i32,
    pub username: String,
    #[diesel(select_expression = nodes::password_enc.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<nodes::password_enc>)]
    pub has_password: bool,
    pub gpu_model: String,
    pub gpu_count: i32,
    pub docker_endpoint: String,
    pub use_tls: bool,
    pub ca_cert: String,
    pub client_cert: String,
    #[diesel(select_expression = nodes::client_key_enc.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<nodes::client_key_enc>)]
    pub has_client_key: bool,
    pub listed: bool,
    /// 维护中: out of the wizard and of placement (its instances run on)
    pub maintenance: bool,
    pub remark: String,
    pub created_at: DateTime<Utc>,
}

/// What to do with each encrypted column: None = keep, Some(None) = clear,
/// Some(Some(ciphertext)) = replace.
#[derive(Default)]
pub struct SecretWrites {
    pub password_enc: Option<Option<Vec<u8>>>,
    pub client_key_enc: Option<Option<Vec<u8>>>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = nodes)]
struct NodeRow<'a> {
    name: &'a str,
    region: &'a str,
    cpu_cores: i32,
    memory_gb: i32,
    system_disk_gb: i32,
    data_disk_gb: i32,
    public_ip: &'a str,
    private_ip: &'a str,
    ssh_port: i32,
    username: &'a str,
    password_enc: Option<Option<Vec<u8>>>,
    gpu_model: &'a str,
    gpu_count: i32,
    docker_endpoint: &'a str,
    use_tls: bool,
    ca_cert: &'a str,
    client_cert: &'a str,
    client_key_enc: Option<Option<Vec<u8>>>,
    listed: bool,
    remark: &'a str,
}

impl<'a> NodeRow<'a> {
    fn new(v: &'a NewNode, secrets: SecretWrites) -> Self {
        NodeRow {
            name: &v.name,
            region: &v.region,
            cpu_cores: v.cpu_cores,
            memory_gb: v.memory_gb,
            system_disk_gb: v.system_disk_gb,
            data_disk_gb: v.data_disk_gb,
            public_ip: &v.public_ip,
            private_ip: &v.private_ip,
            ssh_port: v.ssh_port,
            username: &v.username,
            password_enc: secrets.password_enc,
            gpu_model: &v.gpu_model,
            gpu_count: v.gpu_count,
            docker_endpoint: &v.docker_endpoint,
            use_tls: v.use_tls,
            ca_cert: &v.ca_cert,
            client_cert: &v.client_cert,
            client_key_enc: secrets.client_key_enc,
            listed: v.listed,
            remark: &v.remark,
        }
    }
}

catalog_queries!(nodes, Node, NodeId,
    sorts: { "name" => nodes::name, "region" => nodes::region, "gpu_model" => nodes::gpu_model,
             "created_at" => nodes::created_at });

pub fn insert(
    conn: &mut PgConnection,
    v: &NewNode,
    secrets: SecretWrites,
) -> Result<Node, DbError> {
    Ok(diesel::insert_into(nodes::table)
        .values(NodeRow::new(v, secrets))
        .returning(Node::as_returning())
        .get_result(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: NodeId,
    v: &NewNode,
    secrets: SecretWrites,
) -> Result<(), DbError> {
    // a node moved to another SSH address is another machine: its host key is learnt anew
    diesel::update(
        nodes::table.find(id).filter(
            nodes::public_ip
                .ne(&v.public_ip)
                .or(nodes::private_ip.ne(&v.private_ip))
                .or(nodes::ssh_port.ne(v.ssh_port)),
        ),
    )
    .set(nodes::ssh_host_key.eq(None::<String>))
    .execute(conn)?;
    let n = diesel::update(nodes::table.find(id))
        .set(NodeRow::new(v, secrets))
        .execute(conn)?;
    found(n)
}

/// A secret as stored: `nonce || ciphertext+tag`, or None when not set.
pub type Sealed = Option<Vec<u8>>;

/// The encrypted (password, client key), for the code that connects to the node.
pub fn secrets(conn: &mut PgConnection, id: NodeId) -> Result<(Sealed, Sealed), DbError> {
    Ok(nodes::table
        .find(id)
        .select((nodes::password_enc, nodes::client_key_enc))
        .first(conn)?)
}

/// What connecting to a node's Docker engine needs (the client key still encrypted).
#[derive(Clone, Debug, Queryable)]
pub struct DockerAccess {
    pub docker_endpoint: String,
    pub use_tls: bool,
    pub ca_cert: String,
    pub client_cert: String,
    pub client_key_enc: Sealed,
}

pub fn docker_access(conn: &mut PgConnection, id: NodeId) -> Result<DockerAccess, DbError> {
    Ok(nodes::table
        .find(id)
        .select((
            nodes::docker_endpoint,
            nodes::use_tls,
            nodes::ca_cert,
            nodes::client_cert,
            nodes::client_key_enc,
        ))
        .first(conn)?)
}

/// What the panel's own SSH connection to a node needs (the password still encrypted),
/// and the host key it learnt on first use.
#[derive(Clone, Debug, Queryable)]
pub struct SshAccess {
    pub docker_endpoint: String,
    pub public_ip: String,
    pub private_ip: String,
    pub ssh_port: i32,
    pub username: String,
    pub password_enc: Sealed,
    pub ssh_host_key: Option<String>,
}

pub fn ssh_access(conn: &mut PgConnection, id: NodeId) -> Result<SshAccess, DbError> {
    Ok(nodes::table
        .find(id)
        .select((
            nodes::docker_endpoint,
            nodes::public_ip,
            nodes::private_ip,
            nodes::ssh_port,
            nodes::username,
            nodes::password_enc,
            nodes::ssh_host_key,
        ))
        .first(conn)?)
}

/// Stores the node's SSH host key seen on the first connection, unless another
/// connection stored one meanwhile; returns the key stored now (compare it).
pub fn learn_ssh_host_key(
    conn: &mut PgConnection,
    id: NodeId,
    key: &str,
) -> Result<Option<String>, DbError> {
    diesel::update(nodes::table.find(id).filter(nodes::ssh_host_key.is_null()))
        .set(nodes::ssh_host_key.eq(key))
        .execute(conn)?;
    Ok(nodes::table
        .find(id)
        .select(nodes::ssh_host_key)
        .first(conn)?)
}

/// What the status worker saw of the node's engine: 'ok' or 'unreachable' with why.
/// Written only when it changes (`docker_seen_at` = when it did).
pub fn set_docker_state(
    conn: &mut PgConnection,
    id: NodeId,
    state: &str,
    error: &str,
) -> Result<(), DbError> {
    diesel::update(
        nodes::table.find(id).filter(
            nodes::docker_state
                .ne(state)
                .or(nodes::docker_error.ne(error)),
        ),
    )
    .set((
        nodes::docker_state.eq(state),
        nodes::docker_error.eq(error),
        nodes::docker_seen_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    Ok(())
}

/// Whether the first start should still offer the local engine as a node: it has not
/// done so (nor declined) before and no node exists yet. Marks it declined when nodes
/// already exist.
pub fn local_node_pending(conn: &mut PgConnection) -> Result<bool, DbError> {
    use super::schema::first_run;
    let done: i64 = first_run::table
        .filter(first_run::step.eq(LOCAL_NODE_STEP))
        .count()
        .get_result(conn)?;
    if done > 0 {
        return Ok(false);
    }
    let nodes: i64 = nodes::table.count().get_result(conn)?;
    if nodes > 0 {
        mark_local_node(conn)?;
        return Ok(false);
    }
    Ok(true)
}

/// Registers the local node, once: None when another start (or the admin) came first.
pub fn insert_local(conn: &mut PgConnection, v: &NewNode) -> Result<Option<Node>, DbError> {
    conn.transaction(|c| {
        if mark_local_node(c)? == 0 || nodes::table.count().get_result::<i64>(c)? > 0 {
            return Ok(None);
        }
        insert(c, v, SecretWrites::default()).map(Some)
    })
}

const LOCAL_NODE_STEP: &str = "local_node";

fn mark_local_node(conn: &mut PgConnection) -> Result<usize, DbError> {
    use super::schema::first_run;
    Ok(diesel::insert_into(first_run::table)
        .values(first_run::step.eq(LOCAL_NODE_STEP))
        .on_conflict_do_nothing()
        .execute(conn)?)
}

/// The GPU models the nodes declare, each once whatever its case and blanks, as the
/// first node wrote it.
pub fn gpu_models(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    #[derive(QueryableByName)]
    struct Model {
        #[diesel(sql_type = diesel::sql_types::Text)]
        model: String,
    }
    let rows: Vec<Model> = diesel::sql_query(
        "SELECT (array_agg(btrim(gpu_model) ORDER BY id))[1] AS model FROM nodes \
         WHERE gpu_count > 0 AND btrim(gpu_model) <> '' \
         GROUP BY lower(btrim(gpu_model)) ORDER BY lower(btrim(gpu_model))",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.model).collect())
}

/// Puts the node in maintenance (维护中) or takes it out.
pub fn set_maintenance(conn: &mut PgConnection, id: NodeId, on: bool) -> Result<(), DbError> {
    let n = diesel::update(nodes::table.find(id))
        .set(nodes::maintenance.eq(on))
        .execute(conn)?;
    found(n)
}
