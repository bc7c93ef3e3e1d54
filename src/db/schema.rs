// @generated automatically by Diesel CLI.

diesel::table! {
    api_permissions (id) {
        id -> Int8,
        method -> Text,
        path_pattern -> Text,
        description -> Text,
        allowed_roles -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_logs (id) {
        id -> Int8,
        user_id -> Nullable<Int8>,
        username -> Text,
        role -> Text,
        ip -> Text,
        method -> Text,
        path -> Text,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        status -> Int4,
        detail -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        door -> Text,
    }
}

diesel::table! {
    /// what a stopped server or a failed create left and is not removed yet (ops::recovery)
    cleanups (id) {
        id -> Int8,
        hostname -> Nullable<Text>,
        instance_id -> Nullable<Int8>,
        since -> Timestamptz,
        attempts -> Int4,
        last_error -> Text,
        last_try -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    companies (id) {
        id -> Int8,
        name -> Text,
        remark -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// what the first start did once (`step`: 'local_node')
    first_run (step) {
        step -> Text,
        done_at -> Timestamptz,
    }
}

diesel::table! {
    images (id) {
        id -> Int8,
        name -> Text,
        address -> Text,
        description -> Text,
        source -> Text,
        /// generated: the searched fields joined, trigram-indexed
        search -> Text,
        listed -> Bool,
        remark -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// what happened to an instance (written by a trigger on instances)
    instance_events (id) {
        id -> Int8,
        instance_id -> Int8,
        kind -> Text,
        value -> Text,
        detail -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    instances (id) {
        id -> Int8,
        name -> Text,
        image_id -> Int8,
        spec_id -> Int8,
        node_id -> Int8,
        owner_id -> Int8,
        company_id -> Nullable<Int8>,
        container_id -> Text,
        status -> Text,
        remark -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        gpu_count -> Int4,
        cpu_cores -> Int4,
        memory_gb -> Int4,
        system_disk_gb -> Int4,
        data_disk_gb -> Int4,
        gpu_indices -> Array<Int4>,
        phase -> Text,
        message -> Text,
        disk_quota -> Bool,
        volume_name -> Text,
    }
}

diesel::table! {
    nodes (id) {
        id -> Int8,
        name -> Text,
        region -> Text,
        cpu_cores -> Int4,
        memory_gb -> Int4,
        system_disk_gb -> Int4,
        data_disk_gb -> Int4,
        public_ip -> Text,
        private_ip -> Text,
        ssh_port -> Int4,
        username -> Text,
        password_enc -> Nullable<Bytea>,
        gpu_model -> Text,
        gpu_count -> Int4,
        docker_endpoint -> Text,
        use_tls -> Bool,
        ca_cert -> Text,
        client_cert -> Text,
        client_key_enc -> Nullable<Bytea>,
        /// generated: the searched fields joined, trigram-indexed
        search -> Text,
        listed -> Bool,
        remark -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        docker_state -> Text,
        docker_error -> Text,
        docker_seen_at -> Nullable<Timestamptz>,
        /// 维护中: out of the wizard and of placement
        maintenance -> Bool,
        ssh_host_key -> Nullable<Text>,
    }
}

diesel::table! {
    /// browser login sessions: only the hash of the cookie's random id
    login_sessions (id) {
        id -> Int8,
        token_hash -> Text,
        user_id -> Int8,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        ip -> Text,
        user_agent -> Text,
        ended_at -> Nullable<Timestamptz>,
        end_reason -> Text,
    }
}

diesel::table! {
    /// LXD containers created through the ZJMF API (product figures)
    lxd_containers (hostname) {
        hostname -> Text,
        cpu -> Int4,
        disk_mb -> Int8,
        ram_mb -> Int8,
        up_mbit -> Int4,
        down_mbit -> Int4,
        ports_limit -> Int4,
        bandwidth_gb -> Int8,
        image -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        creating -> Bool,
    }
}

diesel::table! {
    /// port forwards to LXD containers (iptables DNAT), the source of truth
    nat_rules (id) {
        id -> Int8,
        hostname -> Text,
        proto -> Text,
        ext_port -> Int4,
        int_port -> Int4,
        is_ssh -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// what the live instances on a node hold (kept by triggers on instances)
    node_usage (node_id) {
        node_id -> Int8,
        gpu_count -> Int4,
        cpu_cores -> Int4,
        memory_gb -> Int4,
        system_disk_gb -> Int4,
        data_disk_gb -> Int4,
    }
}

diesel::table! {
    roles (name) {
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// terminal sessions on instances (SSH jumpbox and browser terminal)
    sessions (id) {
        id -> Int8,
        user_id -> Nullable<Int8>,
        username -> Text,
        source_ip -> Text,
        instance_id -> Nullable<Int8>,
        instance_name -> Text,
        node_name -> Text,
        protocol -> Text,
        command -> Text,
        started_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        bytes_in -> Int8,
        bytes_out -> Int8,
        end_reason -> Text,
        exit_code -> Nullable<Int4>,
    }
}

diesel::table! {
    specs (id) {
        id -> Int8,
        name -> Text,
        gpu_model -> Text,
        gpu_count -> Int4,
        cpu_cores -> Int4,
        memory_gb -> Int4,
        system_disk_gb -> Int4,
        data_disk_gb -> Int4,
        price_per_hour_cents -> Int8,
        /// generated: the searched fields joined, trigram-indexed
        search -> Text,
        listed -> Bool,
        remark -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        company_id -> Nullable<Int8>,
        disabled -> Bool,
        must_change_password -> Bool,
        failed_logins -> Int4,
        locked_until -> Nullable<Timestamptz>,
        session_epoch -> Int4,
        last_login_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(audit_logs -> users (user_id));
diesel::joinable!(cleanups -> instances (instance_id));
diesel::joinable!(cleanups -> lxd_containers (hostname));
diesel::joinable!(instance_events -> instances (instance_id));
diesel::joinable!(instances -> companies (company_id));
diesel::joinable!(instances -> images (image_id));
diesel::joinable!(instances -> nodes (node_id));
diesel::joinable!(instances -> specs (spec_id));
diesel::joinable!(instances -> users (owner_id));
diesel::joinable!(login_sessions -> users (user_id));
diesel::joinable!(node_usage -> nodes (node_id));
diesel::joinable!(sessions -> instances (instance_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(users -> companies (company_id));
diesel::joinable!(users -> roles (role));

diesel::allow_tables_to_appear_in_same_query!(
    api_permissions,
    audit_logs,
    cleanups,
    companies,
    first_run,
    images,
    instance_events,
    instances,
    login_sessions,
    lxd_containers,
    nat_rules,
    node_usage,
    nodes,
    roles,
    sessions,
    specs,
    users,
);
