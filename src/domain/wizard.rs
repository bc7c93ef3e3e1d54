//! The steps of the new-instance wizard, in order: which one a name asks for, the ones
//! before and after it, and the step a field error sends the user back to; what the
//! chosen spec costs (money in fen, never floats).

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

/// Hours in a day and days in a month, as the confirm step counts them.
const HOURS_PER_DAY: i64 = 24;
const DAYS_PER_MONTH: i64 = 30;

/// What a spec costs per hour, day (24 hours) and month (30 days), as yuan with two
/// decimals and thousands separated: ¥1.50, ¥36.00, ¥1,080.00.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cost {
    pub hour: String,
    pub day: String,
    pub month: String,
}

impl Cost {
    /// The cost of a price in fen (1/100 yuan) per hour; the products saturate rather
    /// than wrap (prices are at most 10^10 fen an hour: far below).
    pub fn of(cents_per_hour: i64) -> Cost {
        let day = cents_per_hour.saturating_mul(HOURS_PER_DAY);
        Cost {
            hour: yuan(cents_per_hour),
            day: yuan(day),
            month: yuan(day.saturating_mul(DAYS_PER_MONTH)),
        }
    }
}

/// fen → "¥1,234.50" (a minus sign before the ¥ for a negative amount).
pub fn yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}¥{grouped}.{:02}", abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_hour_day_and_month_of_thirty_days() {
        for (cents, hour, day, month) in [
            (150, "¥1.50", "¥36.00", "¥1,080.00"),
            (0, "¥0.00", "¥0.00", "¥0.00"),
            (1, "¥0.01", "¥0.24", "¥7.20"),
            (99, "¥0.99", "¥23.76", "¥712.80"),
            (1_250, "¥12.50", "¥300.00", "¥9,000.00"),
            (
                10_000_000_000,
                "¥100,000,000.00",
                "¥2,400,000,000.00",
                "¥72,000,000,000.00",
            ),
        ] {
            assert_eq!(
                Cost::of(cents),
                Cost {
                    hour: hour.into(),
                    day: day.into(),
                    month: month.into()
                },
                "{cents} fen an hour"
            );
        }
    }

    #[test]
    fn yuan_groups_thousands() {
        for (cents, text) in [
            (5, "¥0.05"),
            (99_999, "¥999.99"),
            (100_000, "¥1,000.00"),
            (12_345_678, "¥123,456.78"),
            (100_000_000, "¥1,000,000.00"),
            (-150, "-¥1.50"),
            (i64::MIN, "-¥92,233,720,368,547,758.08"),
        ] {
            assert_eq!(yuan(cents), text, "{cents}");
        }
        // saturates instead of wrapping
        assert_eq!(Cost::of(i64::MAX).month, yuan(i64::MAX));
    }

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
