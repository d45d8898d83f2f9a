//! `numeric` text: Postgres output form (exponent applied, leading zeros dropped, written scale
//! kept) and `numeric(precision, scale)` typmods (round half away from zero, overflow check).

/// Decimal syntax: `[+-]digits[.digits][e[+-]digits]`.
pub fn is_decimal(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac) && exp_ok
}

/// Postgres numeric output of a decimal: exponent applied, leading zeros dropped, the scale
/// (digits after the point) kept as written (`1.50` stays `1.50`, `1.5e1` is `15`, `1e-2` is
/// `0.01`, `-0.0` is `0.0`).
pub fn numeric_text(s: &str) -> Option<String> {
    if !is_decimal(s) {
        return None;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (body.get(..i)?, body.get(i + 1..)?.parse::<i64>().ok()?),
        None => (body, 0),
    };
    if exp.abs() > 1000 {
        return None;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = format!("{int}{frac}");
    let mut scale = frac.len() as i64 - exp;
    if scale < 0 {
        digits.extend(std::iter::repeat_n('0', (-scale) as usize));
        scale = 0;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
    }
    let (ip, fp) = digits.split_at(digits.len() - scale);
    let ip = ip.trim_start_matches('0');
    let ip = if ip.is_empty() { "0" } else { ip };
    let zero = ip == "0" && fp.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(digits.len() + 2);
    if neg && !zero {
        out.push('-');
    }
    out.push_str(ip);
    if !fp.is_empty() {
        out.push('.');
        out.push_str(fp);
    }
    Some(out)
}

/// A numeric value's text (`NaN`, `Infinity`, decimals) as Postgres prints it, with the
/// column's `(precision, scale)` applied: rounded half away from zero to the scale, and an error
/// ("numeric field overflow") when the integer part needs more than `precision - scale` digits.
pub fn numeric_input(s: &str, typmod: Option<(u32, u32)>) -> Result<String, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "nan" => return Ok("NaN".into()),
        w @ ("infinity" | "+infinity" | "inf" | "+inf" | "-infinity" | "-inf") => {
            return match typmod {
                Some((p, sc)) => Err(format!(
                    "numeric field overflow: a field with precision {p}, scale {sc} cannot hold an infinite value"
                )),
                None if w.starts_with('-') => Ok("-Infinity".into()),
                None => Ok("Infinity".into()),
            };
        }
        _ => {}
    }
    let text = numeric_text(s.trim()).ok_or_else(|| format!("{s:?} is not a decimal number"))?;
    match typmod {
        None => Ok(text),
        Some((p, sc)) => apply_numeric_typmod(&text, p, sc),
    }
}

/// Round canonical numeric text to `scale` digits (half away from zero) and check `precision`.
fn apply_numeric_typmod(text: &str, precision: u32, scale: u32) -> Result<String, String> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let scale = scale as usize;
    // All digits kept (integer part then exactly `scale` fraction digits), before rounding.
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(scale)).collect();
    digits.extend(std::iter::repeat_n(b'0', scale.saturating_sub(frac.len())));
    if frac.as_bytes().get(scale).is_some_and(|d| *d >= b'5') {
        // Increment the digit string by one unit in the last place.
        let mut carry = true;
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
                break;
            }
        }
        if carry {
            digits.insert(0, b'1');
        }
    }
    let split = digits.len().saturating_sub(scale);
    let (ip, fp) = digits.split_at(split);
    let ip = std::str::from_utf8(ip).unwrap_or("0").trim_start_matches('0');
    let fp = std::str::from_utf8(fp).unwrap_or("");
    if ip.len() as u64 > u64::from(precision.saturating_sub(scale as u32)) {
        return Err(format!(
            "numeric field overflow: a field with precision {precision}, scale {scale} must round to an \
             absolute value less than 10^{}",
            precision.saturating_sub(scale as u32)
        ));
    }
    let zero = ip.is_empty() && fp.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(ip.len() + fp.len() + 3);
    if neg && !zero {
        out.push('-');
    }
    out.push_str(if ip.is_empty() { "0" } else { ip });
    if !fp.is_empty() {
        out.push('.');
        out.push_str(fp);
    }
    Ok(out)
}
