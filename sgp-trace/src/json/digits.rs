//! Decimal digits written in place, for payload integers and timestamps.

/// The most digits a `u64` has (`18446744073709551615`).
pub(crate) const MAX_DIGITS: usize = 20;

/// How many decimal digits `value` has.
#[inline(always)]
pub(crate) fn decimal_len(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Writes `value`'s decimal digits at the end of `text`, two at a time, right to left;
/// `text` ends where the last digit goes and has room for all of them. Bytes before the
/// digits are left as they are, so a field of zeros comes out zero-padded.
#[inline(always)]
pub(crate) fn write_digits(text: &mut [u8], mut value: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut end = text.len();
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        text[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
        end -= 2;
    }
    if value >= 10 {
        let pair = value as usize * 2;
        text[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        text[end - 1] = b'0' + value as u8;
    }
}

/// `value` (below a million) as six digits, two at a time with multiplications: a loop
/// with a table, as [`write_digits`], cost more for the two timestamps of every span.
#[inline(always)]
pub(crate) fn six_digits(value: u32) -> [u8; 6] {
    // `pair * 103 >> 10` is `pair / 10` for every pair below 100.
    let two = |pair: u32| {
        let tens = (pair * 103) >> 10;
        [b'0' + tens as u8, b'0' + (pair - tens * 10) as u8]
    };
    let high = value / 10_000 % 100;
    let rest = value % 10_000;
    let middle = rest / 100;
    let (high, middle, low) = (two(high), two(middle), two(rest - middle * 100));
    [high[0], high[1], middle[0], middle[1], low[0], low[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_every_microsecond_zero_padded() {
        for value in 0..1_000_000 {
            assert_eq!(
                six_digits(value),
                format!("{value:06}").as_bytes(),
                "{value}"
            );
        }
    }
}
