//! GPU instances (实例): the wizard's form, the capacity arithmetic of placement and the
//! choice of GPU indices. Pure functions; db/ and ops/ apply them inside a transaction.

use serde::Deserialize;

use super::fields::{self, FieldErrors};
use super::ids::NodeId;

const REMARK_MAX: usize = 2000;

/// The resources a spec asks for, a node has, or an instance holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub gpu_count: i32,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
}

impl Resources {
    pub fn plus(self, other: Resources) -> Resources {
        Resources {
            gpu_count: self.gpu_count + other.gpu_count,
            cpu_cores: self.cpu_cores + other.cpu_cores,
            memory_gb: self.memory_gb + other.memory_gb,
            system_disk_gb: self.system_disk_gb + other.system_disk_gb,
            data_disk_gb: self.data_disk_gb + other.data_disk_gb,
        }
    }

    /// What is left of `self` after `used` is taken (may go negative when an operator
    /// shrank a node below what its instances hold).
    pub fn minus(self, used: Resources) -> Resources {
        Resources {
            gpu_count: self.gpu_count - used.gpu_count,
            cpu_cores: self.cpu_cores - used.cpu_cores,
            memory_gb: self.memory_gb - used.memory_gb,
            system_disk_gb: self.system_disk_gb - used.system_disk_gb,
            data_disk_gb: self.data_disk_gb - used.data_disk_gb,
        }
    }

    /// Whether this asks for GPUs at all: a spec of 0 GPUs needs no GPU model (its model
    /// may be "") and goes on any node with room, whatever GPUs the node has (issue 17).
    pub fn needs_gpus(self) -> bool {
        self.gpu_count > 0
    }

    /// Every dimension of `self` fits in `free`.
    pub fn fits_in(self, free: Resources) -> bool {
        self.gpu_count <= free.gpu_count
            && self.cpu_cores <= free.cpu_cores
            && self.memory_gb <= free.memory_gb
            && self.system_disk_gb <= free.system_disk_gb
            && self.data_disk_gb <= free.data_disk_gb
    }
}

/// The lowest `want` GPU indices of a node with `total` GPUs that no live instance holds;
/// None when fewer are free.
pub fn pick_gpus<'a>(
    total: i32,
    held: impl IntoIterator<Item = &'a [i32]>,
    want: i32,
) -> Option<Vec<i32>> {
    let mut taken = vec![false; usize::try_from(total.max(0)).unwrap_or(0)];
    for &i in held.into_iter().flatten() {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| taken.get_mut(i)) {
            *slot = true;
        }
    }
    let free: Vec<i32> = (0..total)
        .zip(taken)
        .filter_map(|(i, t)| (!t).then_some(i))
        .take(usize::try_from(want.max(0)).unwrap_or(0))
        .collect();
    (free.len() == usize::try_from(want.max(0)).unwrap_or(0)).then_some(free)
}

/// An instance name is the container's host name: a DNS label (`fields::is_dns_label`).
pub fn instance_name(s: &str) -> Result<String, &'static str> {
    let t = fields::required(s, fields::DNS_LABEL_MAX)?;
    if fields::is_dns_label(&t) {
        Ok(t)
    } else {
        Err("field.bad_hostname")
    }
}

/// The wizard's choices as the browser sends them (hidden fields carry earlier steps).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct InstanceForm {
    pub image_id: String,
    pub spec_id: String,
    pub node_id: String,
    pub name: String,
    pub remark: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInstance {
    pub image_id: i64,
    pub spec_id: i64,
    pub node_id: NodeId,
    pub name: String,
    pub remark: String,
}

impl InstanceForm {
    /// The checks of the name-and-remark step (the other fields are choices).
    pub fn check_details(&self, e: &mut FieldErrors) -> (String, String) {
        (
            e.take("name", instance_name(&self.name)),
            e.take("remark", fields::multiline(&self.remark, REMARK_MAX)),
        )
    }

    /// The wizard step the form has reached: the first choice still missing.
    pub fn step(&self) -> WizardStep {
        if id(&self.image_id).is_none() {
            WizardStep::Image
        } else if id(&self.spec_id).is_none() {
            WizardStep::Spec
        } else if id(&self.node_id).is_none() {
            WizardStep::Node
        } else {
            WizardStep::Details
        }
    }

    /// The step to show when the user asks for `asked` (下一步 asks for the next one), and
    /// why not that one: the asked step once every choice before it is made (the summary
    /// once the details pass their checks), else the first step still missing its choice,
    /// with an error on that choice.
    pub fn shown(&self, asked: WizardStep) -> (WizardStep, FieldErrors) {
        let mut e = FieldErrors::default();
        let missing = self.step();
        if asked.number() <= missing.number() {
            return (asked, e);
        }
        match missing {
            WizardStep::Image => e.add("image_id", "instance.choose_image"),
            WizardStep::Spec => e.add("spec_id", "instance.choose_spec"),
            WizardStep::Node => e.add("node_id", "instance.choose_node"),
            WizardStep::Details | WizardStep::Confirm => {
                self.check_details(&mut e);
                if e.is_empty() {
                    return (asked, e);
                }
            }
        }
        (missing, e)
    }
}

pub use super::wizard::WizardStep;

/// A positive row id from a form field.
pub fn id(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok().filter(|n| *n > 0)
}

fn required_id(s: &str) -> Result<i64, &'static str> {
    id(s).ok_or("field.choose")
}

impl NewInstance {
    pub fn parse(f: &InstanceForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let (image_id, spec_id, node_id) = (
            e.take("image_id", required_id(&f.image_id)),
            e.take("spec_id", required_id(&f.spec_id)),
            e.take("node_id", required_id(&f.node_id).map(NodeId)),
        );
        let (name, remark) = f.check_details(&mut e);
        let v = NewInstance {
            image_id,
            spec_id,
            node_id,
            name,
            remark,
        };
        e.into_result(v)
    }
}

/// Why a placement was refused (the transaction wrote nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// image, spec or node missing or not 上架 (the form field)
    #[error("{0} unavailable")]
    Unavailable(&'static str),
    /// the node's GPU model differs from the spec's
    #[error("the node's GPU model is not the spec's")]
    GpuModel,
    /// free capacity or free GPU indices do not cover the spec (资源不足)
    #[error("the node has no capacity for the spec")]
    Capacity,
}

impl PlacementError {
    /// The i18n key of what the user is told (for `Unavailable`, next to its field).
    pub fn key(self) -> &'static str {
        match self {
            PlacementError::Unavailable(_) => "instance.unavailable",
            PlacementError::GpuModel => "instance.gpu_mismatch",
            PlacementError::Capacity => "instance.no_capacity",
        }
    }
}

/// The node's GPU model is the spec's (case and surrounding blanks aside).
pub fn same_gpu_model(spec_model: &str, node_model: &str) -> bool {
    node_model.trim().eq_ignore_ascii_case(spec_model.trim())
}

/// Whether a spec of `spec_model` asking for `need` may go on a node of `node_model`
/// with `capacity`, of which its instances use `used`: the same GPU model when the spec
/// asks for GPUs (a 0-GPU spec matches any node), then room in every dimension.
pub fn admits(
    spec_model: &str,
    need: Resources,
    node_model: &str,
    capacity: Resources,
    used: Resources,
) -> Result<(), PlacementError> {
    if need.needs_gpus() && !same_gpu_model(spec_model, node_model) {
        return Err(PlacementError::GpuModel);
    }
    if !need.fits_in(capacity.minus(used)) {
        return Err(PlacementError::Capacity);
    }
    Ok(())
}

/// The GPU indices an admitted spec gets on a node of `capacity` whose instances hold
/// `held` (the counts may fit while the free indices do not).
pub fn gpus_for<'a>(
    capacity: Resources,
    need: Resources,
    held: impl IntoIterator<Item = &'a [i32]>,
) -> Result<Vec<i32>, PlacementError> {
    pick_gpus(capacity.gpu_count, held, need.gpu_count).ok_or(PlacementError::Capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(g: i32, c: i32, m: i32, s: i32, d: i32) -> Resources {
        Resources {
            gpu_count: g,
            cpu_cores: c,
            memory_gb: m,
            system_disk_gb: s,
            data_disk_gb: d,
        }
    }

    #[test]
    fn every_dimension_must_fit() {
        let free = r(2, 8, 32, 100, 500);
        assert!(r(2, 8, 32, 100, 500).fits_in(free));
        assert!(r(0, 1, 1, 1, 0).fits_in(free));
        assert!(!r(3, 1, 1, 1, 1).fits_in(free));
        assert!(!r(1, 9, 1, 1, 1).fits_in(free));
        assert!(!r(1, 1, 33, 1, 1).fits_in(free));
        assert!(!r(1, 1, 1, 101, 1).fits_in(free));
        assert!(!r(1, 1, 1, 1, 501).fits_in(free));
        assert_eq!(
            r(8, 64, 256, 1000, 4000).minus(r(3, 10, 20, 30, 40)),
            r(5, 54, 236, 970, 3960)
        );
    }

    #[test]
    fn gpus_are_the_lowest_free_indices() {
        let a = [0, 2];
        let b = [3];
        assert_eq!(pick_gpus(4, [&a[..], &b[..]], 1), Some(vec![1]));
        assert_eq!(pick_gpus(4, [&a[..]], 2), Some(vec![1, 3]));
        assert_eq!(pick_gpus(4, [&a[..], &b[..]], 2), None);
        assert_eq!(pick_gpus(4, [], 0), Some(vec![]));
        assert_eq!(pick_gpus(0, [], 1), None);
        // indices beyond a shrunk node are ignored, not a panic
        let stale = [7];
        assert_eq!(pick_gpus(2, [&stale[..]], 2), Some(vec![0, 1]));
    }

    #[test]
    fn placement_needs_the_model_then_capacity_then_free_gpus() {
        let node = r(4, 32, 128, 500, 1000);
        let need = r(2, 8, 32, 100, 0);
        let idle = r(0, 0, 0, 0, 0);
        assert_eq!(admits(" A100 ", need, "a100", node, idle), Ok(()));
        assert_eq!(
            admits("A100", need, "H100", node, idle),
            Err(PlacementError::GpuModel)
        );
        // the model is checked before the capacity
        assert_eq!(
            admits("A100", need, "H100", node, node),
            Err(PlacementError::GpuModel)
        );
        assert_eq!(
            admits("A100", need, "A100", node, r(0, 25, 0, 0, 0)),
            Err(PlacementError::Capacity)
        );
        assert_eq!(gpus_for(node, need, []), Ok(vec![0, 1]));
        // the counts fit, but the free indices do not (a stale count)
        let held = [0, 1, 2];
        assert_eq!(
            gpus_for(node, need, [&held[..]]),
            Err(PlacementError::Capacity)
        );
        assert!(same_gpu_model("rtx 4090", " RTX 4090"));
        assert!(!same_gpu_model("RTX 4090", "RTX 3090"));
    }

    #[test]
    fn a_spec_without_gpus_needs_no_model_and_fits_any_node_with_room() {
        let node = r(4, 32, 128, 500, 1000);
        let idle = r(0, 0, 0, 0, 0);
        let cpu_only = r(0, 8, 32, 100, 0);
        for (why, spec_model, node_model, need, used, want) in [
            ("no model, a GPU node", "", "A100", cpu_only, idle, Ok(())),
            (
                "no model, a node without GPUs",
                "",
                "",
                cpu_only,
                idle,
                Ok(()),
            ),
            (
                "another model, 0 GPUs",
                "H100",
                "A100",
                cpu_only,
                idle,
                Ok(()),
            ),
            (
                "0 GPUs on a node whose GPUs are all taken",
                "",
                "A100",
                cpu_only,
                r(4, 0, 0, 0, 0),
                Ok(()),
            ),
            (
                "0 GPUs, too little memory",
                "",
                "A100",
                cpu_only,
                r(0, 0, 100, 0, 0),
                Err(PlacementError::Capacity),
            ),
            (
                "0 GPUs, too little CPU",
                "",
                "A100",
                r(0, 33, 1, 1, 0),
                idle,
                Err(PlacementError::Capacity),
            ),
            (
                "0 GPUs, too little disk",
                "",
                "A100",
                r(0, 1, 1, 501, 0),
                idle,
                Err(PlacementError::Capacity),
            ),
            (
                "GPUs still need the model",
                "",
                "A100",
                r(1, 1, 1, 1, 0),
                idle,
                Err(PlacementError::GpuModel),
            ),
        ] {
            assert_eq!(
                admits(spec_model, need, node_model, node, used),
                want,
                "{why}"
            );
        }
        assert!(!cpu_only.needs_gpus());
        assert!(r(1, 0, 0, 0, 0).needs_gpus());
        assert_eq!(gpus_for(node, cpu_only, []), Ok(vec![]));
    }

    #[test]
    fn names_are_host_names() {
        assert_eq!(instance_name(" train-01 "), Ok("train-01".into()));
        assert_eq!(instance_name(""), Err("field.required"));
        for bad in ["1abc", "-abc", "abc-", "a_b", "a.b", "训练", "a b"] {
            assert_eq!(instance_name(bad), Err("field.bad_hostname"), "{bad}");
        }
        assert!(instance_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn wizard_step_is_the_first_missing_choice() {
        let mut f = InstanceForm::default();
        assert_eq!(f.step(), WizardStep::Image);
        f.image_id = "3".into();
        assert_eq!(f.step(), WizardStep::Spec);
        f.spec_id = "x".into();
        assert_eq!(f.step(), WizardStep::Spec);
        f.spec_id = "4".into();
        assert_eq!(f.step(), WizardStep::Node);
        f.node_id = "5".into();
        assert_eq!(f.step(), WizardStep::Details);
        let e = NewInstance::parse(&InstanceForm {
            name: "9".into(),
            ..f.clone()
        })
        .unwrap_err();
        assert_eq!(e.get("name"), Some("field.bad_hostname"));
        assert!(
            NewInstance::parse(&InstanceForm {
                name: "gpu-a".into(),
                ..f
            })
            .is_ok()
        );
    }

    #[test]
    fn next_without_a_choice_stays_on_the_step_and_says_why() {
        let mut f = InstanceForm::default();
        // the first step, and going back, need nothing
        assert_eq!(
            f.shown(WizardStep::Image),
            (WizardStep::Image, FieldErrors::default())
        );
        let (step, e) = f.shown(WizardStep::Spec);
        assert_eq!(step, WizardStep::Image);
        assert_eq!(e.get("image_id"), Some("instance.choose_image"));
        f.image_id = "3".into();
        assert!(f.shown(WizardStep::Spec).1.is_empty());
        // skipping ahead stops at the first missing choice
        let (step, e) = f.shown(WizardStep::Confirm);
        assert_eq!(step, WizardStep::Spec);
        assert_eq!(e.get("spec_id"), Some("instance.choose_spec"));
        f.spec_id = "4".into();
        assert_eq!(
            f.shown(WizardStep::Details).0,
            WizardStep::Node,
            "no node yet"
        );
        assert_eq!(
            f.shown(WizardStep::Details).1.get("node_id"),
            Some("instance.choose_node")
        );
        f.node_id = "5".into();
        assert_eq!(f.shown(WizardStep::Details).0, WizardStep::Details);
        // the summary needs a good name
        let (step, e) = f.shown(WizardStep::Confirm);
        assert_eq!(step, WizardStep::Details);
        assert_eq!(e.get("name"), Some("field.required"));
        f.name = "9x".into();
        assert_eq!(
            f.shown(WizardStep::Confirm).1.get("name"),
            Some("field.bad_hostname")
        );
        f.name = "gpu-a".into();
        assert_eq!(
            f.shown(WizardStep::Confirm),
            (WizardStep::Confirm, FieldErrors::default())
        );
    }
}
