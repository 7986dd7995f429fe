//! Braced GUID strings (`{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`), the only form the
//! protocol accepts (section 5). Shared by the simulator and the checker so both agree on
//! what is valid and on when two spellings name the same GUID.

/// Parses a braced GUID: exactly 38 characters, `{` and `}` around 32 hex digits (either
/// case) in groups of 8-4-4-4-12 separated by hyphens. Returns the GUID's value as the
/// 128-bit number its hex digits spell, read left to right, so two spellings that differ
/// only in case give the same value. Anything else (no braces, wrong length, non-hex,
/// non-ASCII, surrounding spaces) is `None`.
pub fn parse_braced_guid(s: &str) -> Option<u128> {
    match s.as_bytes() {
        // The uuid crate's hyphenated parser is table driven (about a tenth of the
        // instructions of a digit-by-digit loop); it takes exactly the 8-4-4-4-12 form.
        [b'{', inner @ .., b'}'] if inner.len() == 36 => {
            uuid::Uuid::try_parse_ascii(inner).ok().map(|u| u.as_u128())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_braced_guid;
    use proptest::prelude::*;

    /// The grammar spelled out digit by digit: what the table-driven parser must agree with.
    fn reference(s: &str) -> Option<u128> {
        let b = s.as_bytes();
        if b.len() != 38 || b[0] != b'{' || b[37] != b'}' {
            return None;
        }
        let mut value: u128 = 0;
        for (i, &c) in b.iter().enumerate().take(37).skip(1) {
            if matches!(i, 9 | 14 | 19 | 24) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            value = (value << 4) | u128::from((c as char).to_digit(16)?);
        }
        Some(value)
    }

    proptest! {
        #[test]
        fn agrees_with_the_grammar_on_near_misses(
            base in "\\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\}",
            at in 0usize..38,
            with in any::<char>(),
        ) {
            prop_assert_eq!(parse_braced_guid(&base), reference(&base));
            prop_assert!(reference(&base).is_some());
            let mut mutated: Vec<char> = base.chars().collect();
            mutated[at] = with;
            let mutated: String = mutated.into_iter().collect();
            prop_assert_eq!(parse_braced_guid(&mutated), reference(&mutated));
        }
    }

    #[test]
    fn accepts_braced_form_in_any_case() {
        let upper = parse_braced_guid("{6F9619FF-8B86-D011-B42D-00C04FC964FF}");
        let lower = parse_braced_guid("{6f9619ff-8b86-d011-b42d-00c04fc964ff}");
        let mixed = parse_braced_guid("{6f9619FF-8b86-D011-b42D-00c04FC964ff}");
        assert_eq!(upper, Some(0x6F9619FF_8B86_D011_B42D_00C04FC964FF));
        assert_eq!(upper, lower);
        assert_eq!(upper, mixed);
        assert_eq!(
            parse_braced_guid("{00000000-0000-0000-0000-000000000000}"),
            Some(0)
        );
        assert_eq!(
            parse_braced_guid("{ffffffff-ffff-ffff-ffff-ffffffffffff}"),
            Some(u128::MAX)
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "{}",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "(6F9619FF-8B86-D011-B42D-00C04FC964FF)",
            "{6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF}",
            "{6F9619FF8B86-D011-B42D-00C04FC964FF0}",
            "{6F9619FF-8B86-D011-B42D-00C04FC964F}",
            "{6F9619FF-8B86-D011-B42D-00C04FC964FFF}",
            "{6F9619FG-8B86-D011-B42D-00C04FC964FF}",
            "{6F9619FF-8B86_D011-B42D-00C04FC964FF}",
            "{6F9619FF-8B86-D011-B42D-00C04FC964F\u{e9}}",
            " {6F9619FF-8B86-D011-B42D-00C04FC964FF}",
            "{6F9619FF-8B86-D011-B42D-00C04FC964FF} ",
            "{+F9619FF-8B86-D011-B42D-00C04FC964FF}",
            "{6F9619FF-8B86-D011-B42D-00C04FC964\u{FFFD}}",
        ] {
            assert_eq!(parse_braced_guid(bad), None, "{bad:?} was accepted");
        }
    }
}
