//! How long a reader's token lasts, with the spec's clamping.
//!
//! The code flow takes `tokenValidity` in **minutes** (default 15, band
//! 5..=1440); the widget flow takes it in **seconds** (default 900, band
//! 300..=86400). A value outside the band is not an error: it becomes the
//! nearest end of the band. A fractional value is first rounded down to a
//! whole unit. A missing value takes the default.

use time::Duration;

/// A clamped token lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenValidity(Duration);

/// The band and default of one flow, in that flow's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidityBand {
    /// Smallest value, inclusive.
    pub min: i64,
    /// Largest value, inclusive.
    pub max: i64,
    /// Value used when none is given.
    pub default: i64,
    /// Seconds in one unit of this band (60 for minutes, 1 for seconds).
    pub unit_seconds: i64,
}

impl ValidityBand {
    /// The code flow: minutes, 5..=1440, default 15.
    pub const CODE_FLOW_MINUTES: Self = Self {
        min: 5,
        max: 1440,
        default: 15,
        unit_seconds: 60,
    };

    /// The widget flow: seconds, 300..=86400, default 900.
    pub const WIDGET_SECONDS: Self = Self {
        min: 300,
        max: 86_400,
        default: 900,
        unit_seconds: 1,
    };

    /// Clamps a requested value (in this band's unit) into the band.
    ///
    /// `None` and NaN give the default; fractions are rounded down; values
    /// below or above the band (including infinities) give its nearest end.
    pub fn clamp(&self, requested: Option<f64>) -> i64 {
        match requested {
            None => self.default,
            Some(v) if v.is_nan() => self.default,
            Some(v) => {
                let v = v.floor();
                if v <= self.min as f64 {
                    self.min
                } else if v >= self.max as f64 {
                    self.max
                } else {
                    // Strictly inside a band of small integers: exact.
                    v as i64
                }
            }
        }
    }

    /// The clamped value as a [`TokenValidity`].
    pub fn validity(&self, requested: Option<f64>) -> TokenValidity {
        TokenValidity(Duration::seconds(self.clamp(requested) * self.unit_seconds))
    }
}

impl TokenValidity {
    /// Code flow: `tokenValidity` in minutes, clamped to 5..=1440, default 15.
    ///
    /// ```
    /// use kb_sso::TokenValidity;
    /// assert_eq!(TokenValidity::from_minutes(None).whole_minutes(), 15);
    /// assert_eq!(TokenValidity::from_minutes(Some(1.0)).whole_minutes(), 5);
    /// assert_eq!(TokenValidity::from_minutes(Some(3600.0)).whole_minutes(), 1440);
    /// ```
    pub fn from_minutes(requested: Option<f64>) -> Self {
        ValidityBand::CODE_FLOW_MINUTES.validity(requested)
    }

    /// Widget flow: `tokenValidity` in seconds, clamped to 300..=86400,
    /// default 900.
    pub fn from_seconds(requested: Option<f64>) -> Self {
        ValidityBand::WIDGET_SECONDS.validity(requested)
    }

    /// The lifetime.
    pub fn duration(&self) -> Duration {
        self.0
    }

    /// The lifetime in whole seconds.
    pub fn whole_seconds(&self) -> i64 {
        self.0.whole_seconds()
    }

    /// The lifetime in whole minutes.
    pub fn whole_minutes(&self) -> i64 {
        self.0.whole_minutes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_flow_band_matches_the_spec() {
        let m = |v| TokenValidity::from_minutes(v).whole_minutes();
        assert_eq!(m(None), 15);
        assert_eq!(m(Some(15.0)), 15);
        assert_eq!(m(Some(4.0)), 5, "below the minimum: 5 minutes");
        assert_eq!(m(Some(1441.0)), 1440, "above the maximum: 1440 minutes");
        assert_eq!(m(Some(3600.0)), 1440, "the samples' 3600 'seconds'");
        assert_eq!(m(Some(-7.0)), 5);
        assert_eq!(m(Some(15.9)), 15);
        assert_eq!(m(Some(f64::INFINITY)), 1440);
        assert_eq!(m(Some(f64::NEG_INFINITY)), 5);
        assert_eq!(m(Some(f64::NAN)), 15);
        assert_eq!(m(Some(1e300)), 1440);
        assert_eq!(TokenValidity::from_minutes(Some(5.0)).whole_seconds(), 300);
    }

    #[test]
    fn widget_band_matches_the_spec() {
        let s = |v| TokenValidity::from_seconds(v).whole_seconds();
        assert_eq!(s(None), 900);
        assert_eq!(s(Some(900.0)), 900);
        assert_eq!(s(Some(60.0)), 300);
        assert_eq!(s(Some(86_401.0)), 86_400);
        assert_eq!(s(Some(-1.0)), 300);
    }
}
