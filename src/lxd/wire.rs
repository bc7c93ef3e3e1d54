//! LXD's reply envelope (sync / async / error), its background operations and the exec
//! result, read from bytes and JSON without IO. No HTTP here (client.rs).

use std::fmt::Write;

use serde_json::Value;

use super::LxdError;

/// A successful reply: its metadata, or the operation to wait for (`202 Accepted`).
#[derive(Debug, PartialEq)]
pub(super) enum Reply {
    Sync(Value),
    /// the operation's path, `/1.0/operations/{uuid}`
    Async(String),
}

/// Reads one reply. LXD's error envelope (`"type": "error"`) becomes `NotFound` for 404 and
/// `Lxd(message)` otherwise, keeping LXD's message.
pub(super) fn reply(http_status: u16, body: &[u8]) -> Result<Reply, LxdError> {
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        LxdError::Protocol(format!("HTTP {http_status}, not JSON: {}", snippet(body)))
    })?;
    let kind = json["type"].as_str().unwrap_or_default();
    if kind == "error" || http_status >= 400 {
        let code = json["error_code"]
            .as_u64()
            .unwrap_or(u64::from(http_status));
        let msg = json["error"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map_or_else(
                || format!("LXD 返回错误（HTTP {http_status}）"),
                str::to_string,
            );
        return Err(if code == 404 {
            LxdError::NotFound(msg)
        } else {
            LxdError::Lxd(msg)
        });
    }
    match kind {
        "sync" => Ok(Reply::Sync(json["metadata"].clone())),
        "async" => match json["operation"].as_str() {
            Some(op) if op.starts_with("/1.0/operations/") => Ok(Reply::Async(op.to_string())),
            _ => Err(LxdError::Protocol(format!(
                "async reply without an operation: {}",
                snippet(body)
            ))),
        },
        _ => Err(LxdError::Protocol(format!(
            "unknown reply type: {}",
            snippet(body)
        ))),
    }
}

/// Where a background operation stands after `/wait`.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    /// succeeded: the operation's own `metadata` (exec puts its result there)
    Done(Value),
    /// still going when the wait's timeout ran out
    Running,
}

/// Reads an operation object (the metadata of `GET /1.0/operations/{id}/wait`). Status
/// codes: 200 success, 400 failure, 401 cancelled, 1xx still going.
pub(super) fn outcome(op: &Value) -> Result<Outcome, LxdError> {
    let Some(code) = op["status_code"].as_u64() else {
        return Err(LxdError::Protocol(format!(
            "operation without a status: {op}"
        )));
    };
    match code {
        200 => Ok(Outcome::Done(op["metadata"].clone())),
        400.. => {
            let fallback = if code == 401 {
                "LXD 操作已取消"
            } else {
                "LXD 操作失败"
            };
            let err = op["err"]
                .as_str()
                .filter(|e| !e.is_empty())
                .unwrap_or(fallback);
            Err(LxdError::Lxd(err.to_string()))
        }
        _ => Ok(Outcome::Running),
    }
}

/// An operation LXD is still working on (created, pending, running or cancelling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub id: String,
    /// LXD's words: "Creating instance", "Starting instance", "Executing command"…
    pub description: String,
    pub may_cancel: bool,
}

/// The operations still going in the list `GET /1.0/operations?recursion=1` answers (a
/// map from status to operations) that touch the instance at `path`
/// (`/1.0/instances/{segment}`; LXD 5.0 names it under `containers` too). Finished ones
/// (status code 200 and up) are left out.
pub(super) fn running_on(list: &Value, path: &str) -> Vec<Operation> {
    let legacy = path.replacen("/1.0/instances/", "/1.0/containers/", 1);
    let touches = |op: &Value| {
        op["resources"].as_object().is_some_and(|kinds| {
            kinds
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .any(|r| {
                    let r = r.as_str().unwrap_or_default();
                    let r = r.split('?').next().unwrap_or_default();
                    r == path || r == legacy
                })
        })
    };
    let Some(groups) = list.as_object() else {
        return Vec::new();
    };
    let mut out: Vec<Operation> = groups
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter(|op| op["status_code"].as_u64().is_some_and(|c| c < 200))
        .filter(|op| touches(op))
        .filter_map(|op| {
            Some(Operation {
                id: op["id"].as_str().filter(|id| !id.is_empty())?.to_string(),
                description: op["description"].as_str().unwrap_or_default().to_string(),
                may_cancel: op["may_cancel"].as_bool().unwrap_or(false),
            })
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup();
    out
}

/// What a finished `record-output` exec left in its operation's metadata: the exit code
/// and the paths of the recorded stdout and stderr (`/1.0/instances/{name}/logs/…`).
#[derive(Debug, PartialEq)]
pub(super) struct ExecDone {
    pub code: i32,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

pub(super) fn exec_done(m: &Value) -> ExecDone {
    let path = |fd: &str| {
        m["output"][fd]
            .as_str()
            .filter(|p| p.starts_with("/1.0/"))
            .map(str::to_string)
    };
    ExecDone {
        code: m["return"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(-1),
        stdout: path("1"),
        stderr: path("2"),
    }
}

/// A name as one URL path segment: anything but letters, digits, `-` and `_` is
/// percent-encoded (dots too), so a name can never reach another endpoint (`..`, `/`, `?`).
pub(super) fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The start of a body for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bytes(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn sync_and_async_replies() {
        let sync = json!({"type": "sync", "status": "Success", "status_code": 200, "operation": "",
                          "error_code": 0, "error": "", "metadata": {"name": "c1"}});
        assert_eq!(
            reply(200, &bytes(sync)).unwrap(),
            Reply::Sync(json!({"name": "c1"}))
        );
        let op = "/1.0/operations/0bafc379-1786-4b2b-b8b2-8f5f0a4ac717";
        let accepted = json!({"type": "async", "status": "Operation created", "status_code": 100,
                              "operation": op, "metadata": {"id": "0bafc379", "status": "Running"}});
        assert_eq!(
            reply(202, &bytes(accepted)).unwrap(),
            Reply::Async(op.into())
        );
    }

    #[test]
    fn error_bodies() {
        let not_found = json!({"type": "error", "status": "", "status_code": 0, "operation": "",
                               "error_code": 404, "error": "Instance not found", "metadata": null});
        assert!(
            matches!(reply(404, &bytes(not_found)), Err(LxdError::NotFound(m)) if m == "Instance not found")
        );
        let refused = json!({"type": "error", "error_code": 400, "error": "Invalid instance name"});
        assert!(
            matches!(reply(400, &bytes(refused)), Err(LxdError::Lxd(m)) if m == "Invalid instance name")
        );
        // an error status with an empty message still says something
        let bare = json!({"type": "error", "error_code": 500, "error": ""});
        assert!(
            matches!(reply(500, &bytes(bare)), Err(LxdError::Lxd(m)) if m.contains("HTTP 500"))
        );
        // not LXD at all
        let html = b"<html><body>502 Bad Gateway</body></html>";
        assert!(
            matches!(reply(502, html), Err(LxdError::Protocol(m)) if m.contains("502 Bad Gateway"))
        );
        let odd = json!({"type": "async", "operation": "/etc/passwd"});
        assert!(matches!(
            reply(202, &bytes(odd)),
            Err(LxdError::Protocol(_))
        ));
    }

    #[test]
    fn operation_results() {
        let ok = json!({"id": "cb6c", "class": "task", "status": "Success", "status_code": 200,
                        "metadata": {"return": 3}, "err": ""});
        assert_eq!(outcome(&ok).unwrap(), Outcome::Done(json!({"return": 3})));
        let running = json!({"status": "Running", "status_code": 103, "err": ""});
        assert_eq!(outcome(&running).unwrap(), Outcome::Running);
        let failed = json!({"status": "Failure", "status_code": 400, "metadata": null,
            "err": "Failed creating instance record: Failed initialising instance: Failed getting root disk: No root device could be found"});
        assert!(
            matches!(outcome(&failed), Err(LxdError::Lxd(m)) if m.ends_with("No root device could be found"))
        );
        let cancelled = json!({"status": "Cancelled", "status_code": 401, "err": ""});
        assert!(matches!(outcome(&cancelled), Err(LxdError::Lxd(m)) if m == "LXD 操作已取消"));
        assert!(matches!(outcome(&json!(null)), Err(LxdError::Protocol(_))));
    }

    #[test]
    fn operations_on_one_instance() {
        let list = json!({
            "running": [
                {"id": "a1", "description": "Creating instance", "status_code": 103, "may_cancel": false,
                 "resources": {"containers": ["/1.0/containers/c1"], "instances": ["/1.0/instances/c1"]}},
                {"id": "b2", "description": "Executing command", "status_code": 103, "may_cancel": true,
                 "resources": {"instances": ["/1.0/instances/c1?project=default"]}},
                {"id": "c3", "description": "Creating instance", "status_code": 103,
                 "resources": {"instances": ["/1.0/instances/c10"]}},
                {"id": "d4", "description": "Downloading image", "status_code": 103, "resources": null}
            ],
            "success": [
                {"id": "e5", "description": "Deleting instance", "status_code": 200,
                 "resources": {"instances": ["/1.0/instances/c1"]}}
            ],
            "failure": null
        });
        let ops = running_on(&list, "/1.0/instances/c1");
        assert_eq!(
            ops,
            vec![
                Operation {
                    id: "a1".into(),
                    description: "Creating instance".into(),
                    may_cancel: false
                },
                Operation {
                    id: "b2".into(),
                    description: "Executing command".into(),
                    may_cancel: true
                }
            ],
            "running ones on c1 only, not c10's, not finished ones"
        );
        // older daemons list a container under `containers` only
        let old = json!({"running": [{"id": "f6", "status_code": 105,
            "resources": {"containers": ["/1.0/containers/c1"]}}]});
        assert_eq!(running_on(&old, "/1.0/instances/c1").len(), 1);
        assert!(running_on(&json!(null), "/1.0/instances/c1").is_empty());
        assert!(running_on(&json!({"running": null}), "/1.0/instances/c1").is_empty());
    }

    #[test]
    fn exec_result() {
        let m = json!({"output": {
            "1": "/1.0/instances/p3/logs/exec_cb6c.stdout",
            "2": "/1.0/instances/p3/logs/exec_cb6c.stderr"}, "return": 3});
        assert_eq!(
            exec_done(&m),
            ExecDone {
                code: 3,
                stdout: Some("/1.0/instances/p3/logs/exec_cb6c.stdout".into()),
                stderr: Some("/1.0/instances/p3/logs/exec_cb6c.stderr".into()),
            }
        );
        assert_eq!(
            exec_done(&json!(null)),
            ExecDone {
                code: -1,
                stdout: None,
                stderr: None
            }
        );
    }

    #[test]
    fn names_stay_one_segment() {
        for (name, seg) in [
            ("c-1", "c-1"),
            ("../1.0", "%2E%2E%2F1%2E0"),
            ("..", "%2E%2E"),
            ("a b?x=1", "a%20b%3Fx%3D1"),
            ("容器", "%E5%AE%B9%E5%99%A8"),
        ] {
            assert_eq!(segment(name), seg, "{name}");
        }
    }
}
