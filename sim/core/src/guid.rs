//! GUID strings: the braced form `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`, compared by value.

/// Parses a braced GUID string (hex digits in any case) to its value; `None` for anything
/// else (no braces, wrong length, misplaced hyphens, non-hex digits).
pub fn parse_braced_guid(s: &str) -> Option<u128> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    if inner.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, c) in inner.chars().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != '-' {
                return None;
            }
            continue;
        }
        value = (value << 4) | u128::from(c.to_digit(16)?);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braced_guids_compare_by_value() {
        let a = parse_braced_guid("{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}");
        let b = parse_braced_guid("{0a9d7b3a-a35e-4CC6-b73c-1f635136057b}");
        assert!(a.is_some());
        assert_eq!(a, b);
        for bad in [
            "",
            "0a9d7b3a-a35e-4cc6-b73c-1f635136057b",
            "{0a9d7b3a-a35e-4cc6-b73c-1f635136057}",
            "{0a9d7b3a-a35e-4cc6-b73c-1f635136057bb}",
            "{0a9d7b3a+a35e-4cc6-b73c-1f635136057b}",
            "{0a9d7b3a-a35e-4cc6-b73c-1f635136057g}",
            "{+a9d7b3a-a35e-4cc6-b73c-1f635136057b}",
            "(0a9d7b3a-a35e-4cc6-b73c-1f635136057b)",
        ] {
            assert_eq!(parse_braced_guid(bad), None, "{bad}");
        }
    }
}
