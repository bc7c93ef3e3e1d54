//! The steps of the new-instance wizard, in order: which one a name asks for, the ones
//! before and after it, and the step a field error sends the user back to.

use super::fields::FieldErrors;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WizardStep {
    Image,
    Spec,
    Node,
    Details,
    Confirm,
}

impl WizardStep {
    pub const ORDER: [WizardStep; 5] = [
        WizardStep::Image,
        WizardStep::Spec,
        WizardStep::Node,
        WizardStep::Details,
        WizardStep::Confirm,
    ];

    /// The step a name asks for (the wizard's `step` parameter); the first for any other.
    pub fn parse(name: &str) -> WizardStep {
        WizardStep::ORDER
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or(WizardStep::Image)
    }

    pub fn name(self) -> &'static str {
        match self {
            WizardStep::Image => "image",
            WizardStep::Spec => "spec",
            WizardStep::Node => "node",
            WizardStep::Details => "details",
            WizardStep::Confirm => "confirm",
        }
    }

    /// The name of the step before (the first is its own).
    pub fn prev(self) -> &'static str {
        WizardStep::ORDER[usize::from(self.number().saturating_sub(2))].name()
    }

    /// The name of the step after (the last is its own).
    pub fn next(self) -> &'static str {
        WizardStep::ORDER[usize::from(self.number().min(4))].name()
    }

    /// The i18n key of the step's label.
    pub fn label(self) -> &'static str {
        match self {
            WizardStep::Image => "instance.step_image",
            WizardStep::Spec => "instance.step_spec",
            WizardStep::Node => "instance.step_node",
            WizardStep::Details => "instance.step_details",
            WizardStep::Confirm => "instance.step_confirm",
        }
    }

    /// 1 for the first step.
    pub fn number(self) -> u8 {
        match self {
            WizardStep::Image => 1,
            WizardStep::Spec => 2,
            WizardStep::Node => 3,
            WizardStep::Details => 4,
            WizardStep::Confirm => 5,
        }
    }

    /// The step whose choice a refused form must correct first: the earliest one with a
    /// field error, else the details.
    pub fn of_errors(errors: &FieldErrors) -> WizardStep {
        [
            ("image_id", WizardStep::Image),
            ("spec_id", WizardStep::Spec),
            ("node_id", WizardStep::Node),
        ]
        .into_iter()
        .find(|(field, _)| errors.get(field).is_some())
        .map_or(WizardStep::Details, |(_, step)| step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_by_name_and_neighbours() {
        for s in WizardStep::ORDER {
            assert_eq!(WizardStep::parse(s.name()), s);
        }
        assert_eq!(WizardStep::parse("nonsense"), WizardStep::Image);
        assert_eq!(WizardStep::Image.prev(), "image");
        assert_eq!(WizardStep::Node.prev(), "spec");
        assert_eq!(WizardStep::Node.next(), "details");
        assert_eq!(WizardStep::Confirm.next(), "confirm");
    }

    #[test]
    fn errors_send_back_to_the_earliest_step() {
        let mut e = FieldErrors::default();
        assert_eq!(WizardStep::of_errors(&e), WizardStep::Details);
        e.add("node_id", "field.choose");
        assert_eq!(WizardStep::of_errors(&e), WizardStep::Node);
        e.add("spec_id", "field.choose");
        assert_eq!(WizardStep::of_errors(&e), WizardStep::Spec);
    }
}
