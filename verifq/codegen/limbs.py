"""Integers of any width in generated code: limbs (two's complement words split into 32- or 64-bit
pieces, least significant first), and the plain C99 multi-limb arithmetic both generators emit when
a value does not fit 64 (or 128) bits: `wide_library` (also valid C++, for the HLS testbench's
decimal I/O)."""

from __future__ import annotations

from ..fixedpoint.format import FixedFormat, Rounding

LIMB_BITS = 32  # limbs of the C reference's multi-limb integers (uint32_t, products in uint64_t)
HLS_LIMB_BITS = 64  # limbs of HLS constants wider than 64 bits, copied into ap_fixed bit ranges


def double_exact(mant: int, frac: int) -> bool:
    """Whether mant * 2^-frac is exactly an IEEE double (normal or subnormal), so that its decimal
    literal, read by a C/C++ compiler or strtod, is that value."""
    m = abs(int(mant))
    if m == 0:
        return True
    tz = (m & -m).bit_length() - 1  # trailing zero bits
    odd, e = m >> tz, tz - frac  # value = odd * 2^e
    return odd.bit_length() <= 53 and e >= -1074 and odd.bit_length() + e <= 1024


def fits_int64(lo: int, hi: int) -> bool:
    return -(1 << 63) <= int(lo) and int(hi) < (1 << 63)


def signed_bits_of(values) -> int:
    """Bits of the smallest two's complement word holding every value (at least 1)."""
    out = 1
    for v in values:
        v = int(v)
        out = max(out, (v.bit_length() if v >= 0 else (-v - 1).bit_length()) + 1)
    return out


def limb_count(bits: int, limb: int = LIMB_BITS) -> int:
    """Limbs of a two's complement word of at least `bits` bits."""
    return max(1, -(-int(bits) // limb))


def format_limbs(fmt: FixedFormat, limb: int = LIMB_BITS) -> int:
    """Limbs holding every mantissa of fmt in two's complement (an unsigned format needs a sign bit more)."""
    return limb_count(fmt.width + (0 if fmt.signed else 1), limb)


def fits_int64_storage(fmt: FixedFormat) -> bool:
    """Every mantissa of fmt fits an int64_t (the C reference's narrow storage)."""
    return fmt.width <= (64 if fmt.signed else 63)


def limbs_of(v: int, n: int, limb: int = LIMB_BITS) -> list[int]:
    """The n limbs (least significant first) of v in two's complement over n * limb bits."""
    u = int(v) % (1 << (n * limb))
    mask = (1 << limb) - 1
    return [(u >> (limb * i)) & mask for i in range(n)]


def hex_limb(u: int, limb: int = LIMB_BITS) -> str:
    return f"0x{u:0{limb // 4}x}" + ("u" if limb == 32 else "ULL")


WIDE_LIBRARY = r"""/* ---- multi-limb integers (plain C99): n 32-bit limbs, least significant first, two's complement
 * over 32 n bits. Sums and products are modulo 2^(32 n); the generator sizes n so that every value
 * it keeps is exact. */
#ifndef VQ_LIMB_DEFINED
#define VQ_LIMB_DEFINED
typedef uint32_t vq_limb;
#endif
VQ_HELPER void vq_w_zero(vq_limb* r, int n) { int i; for (i = 0; i < n; i++) r[i] = 0; }
VQ_HELPER int vq_w_isneg(const vq_limb* a, int n) { return (int)(a[n - 1] >> 31); }
VQ_HELPER void vq_w_set_i64(vq_limb* r, int n, int64_t v) {
    uint64_t u = (uint64_t)v;  /* modulo 2^64: defined */
    vq_limb fill = v < 0 ? 0xFFFFFFFFu : 0u;
    int i;
    for (i = 0; i < n; i++) {
        r[i] = i < 2 ? (vq_limb)(u & 0xFFFFFFFFu) : fill;
        u >>= 32;
    }
}
/* r = a, sign-extended (or truncated) from na to n limbs; r may be a */
VQ_HELPER void vq_w_load(vq_limb* r, int n, const vq_limb* a, int na) {
    vq_limb fill = (a[na - 1] >> 31) ? 0xFFFFFFFFu : 0u;
    int i;
    for (i = 0; i < n; i++) r[i] = i < na ? a[i] : fill;
}
/* the low 64 bits as an int64_t (two's complement, without implementation-defined conversions) */
VQ_HELPER int64_t vq_w_to_i64(const vq_limb* a, int n) {
    uint64_t u = (uint64_t)a[0] | ((uint64_t)(n > 1 ? a[1] : ((a[0] >> 31) ? 0xFFFFFFFFu : 0u)) << 32);
    if (u >> 63) return -(int64_t)(~u) - 1;
    return (int64_t)u;
}
VQ_HELPER void vq_w_add(vq_limb* r, const vq_limb* a, int n) {  /* r += a */
    uint64_t c = 0;
    int i;
    for (i = 0; i < n; i++) { c += (uint64_t)r[i] + a[i]; r[i] = (vq_limb)c; c >>= 32; }
}
VQ_HELPER void vq_w_sub(vq_limb* r, const vq_limb* a, int n) {  /* r -= a */
    uint64_t c = 1;
    int i;
    for (i = 0; i < n; i++) { c += (uint64_t)r[i] + (vq_limb)~a[i]; r[i] = (vq_limb)c; c >>= 32; }
}
VQ_HELPER void vq_w_neg(vq_limb* r, int n) {  /* r = -r */
    uint64_t c = 1;
    int i;
    for (i = 0; i < n; i++) { c += (vq_limb)~r[i]; r[i] = (vq_limb)c; c >>= 32; }
}
/* r = a b (modulo 2^(32 n), which is also the signed product's two's complement); r is neither a nor b */
VQ_HELPER void vq_w_mul(vq_limb* r, const vq_limb* a, const vq_limb* b, int n) {
    int i, k;
    for (i = 0; i < n; i++) r[i] = 0;
    for (i = 0; i < n; i++) {
        uint64_t c = 0;
        if (a[i] == 0) continue;
        for (k = 0; i + k < n; k++) {
            c += (uint64_t)a[i] * b[k] + r[i + k];
            r[i + k] = (vq_limb)c;
            c >>= 32;
        }
    }
}
/* r = floor(r / 2^s), s >= 0 */
VQ_HELPER void vq_w_sar(vq_limb* r, int n, long s) {
    vq_limb fill = (r[n - 1] >> 31) ? 0xFFFFFFFFu : 0u;
    long q = s / 32, j;
    int b = (int)(s % 32), i;
    for (i = 0; i < n; i++) {
        vq_limb lo, hi;
        j = i + q;
        lo = j < n ? r[j] : fill;
        hi = j + 1 < n ? r[j + 1] : fill;
        r[i] = b ? (vq_limb)((lo >> b) | (hi << (32 - b))) : lo;
    }
}
/* r = r 2^s, s >= 0 (the caller guarantees no overflow) */
VQ_HELPER void vq_w_shl(vq_limb* r, int n, long s) {
    long q = s / 32, j;
    int b = (int)(s % 32), i;
    for (i = n - 1; i >= 0; i--) {
        vq_limb lo, hi;
        j = i - q;
        hi = j >= 0 && j < n ? r[j] : 0u;
        lo = j >= 1 && j - 1 < n ? r[j - 1] : 0u;
        r[i] = b ? (vq_limb)((hi << b) | (lo >> (32 - b))) : hi;
    }
}
VQ_HELPER void vq_w_add_pow2(vq_limb* r, int n, long e) {  /* r += 2^e */
    long i = e / 32;
    uint64_t c = (uint64_t)1 << (e % 32);
    for (; i < n && c; i++) { c += r[i]; r[i] = (vq_limb)c; c >>= 32; }
}
/* round r 2^-s to an integer (ROUNDING); s >= 1 */
VQ_HELPER void vq_w_shr(vq_limb* r, int n, long s) {
ROUNDING_ADD    vq_w_sar(r, n, s);
}
/* 1 when bits lim..32n-1 of a all equal its sign bit, i.e. -2^lim <= a < 2^lim */
VQ_HELPER int vq_w_fits(const vq_limb* a, int n, long lim) {
    vq_limb fill = (a[n - 1] >> 31) ? 0xFFFFFFFFu : 0u, mask;
    long q = lim / 32, i;
    if (q >= n) return 1;
    mask = (vq_limb)(0xFFFFFFFFu << (lim % 32));
    if ((a[q] & mask) != (fill & mask)) return 0;
    for (i = q + 1; i < n; i++) if (a[i] != fill) return 0;
    return 1;
}
/* r = 2^k - 1 (bits 0..k-1 set), or with invert its complement -2^k */
VQ_HELPER void vq_w_mask(vq_limb* r, int n, long k, int invert) {
    long i;
    for (i = 0; i < n; i++) {
        vq_limb v = 32 * i + 32 <= k ? 0xFFFFFFFFu : (32 * i >= k ? 0u : (vq_limb)((1u << (k - 32 * i)) - 1u));
        r[i] = invert ? (vq_limb)~v : v;
    }
}
/* two's complement wrap into w bits (signed or not); 32 n > w */
VQ_HELPER void vq_w_wrap(vq_limb* r, int n, long w, int is_signed) {
    long q = (w - 1) / 32, i;
    int b = (int)((w - 1) % 32);
    vq_limb top = r[q], fill = 0u;
    if (is_signed && ((top >> b) & 1u)) {
        fill = 0xFFFFFFFFu;
        if (b < 31) top |= (vq_limb)(0xFFFFFFFFu << (b + 1));
    } else if (b < 31) {
        top &= (vq_limb)((1u << (b + 1)) - 1u);
    }
    r[q] = top;
    for (i = q + 1; i < n; i++) r[i] = fill;
}
/* clamp to the range of a w-bit format (signed or not); 32 n > w */
VQ_HELPER void vq_w_sat(vq_limb* r, int n, long w, int is_signed) {
    int neg = vq_w_isneg(r, n);
    if (!is_signed && neg) { vq_w_zero(r, n); return; }
    if (vq_w_fits(r, n, is_signed ? w - 1 : w)) return;
    if (neg) vq_w_mask(r, n, w - 1, 1);
    else vq_w_mask(r, n, is_signed ? w - 1 : w, 0);
}
/* a clamped to 0..last, as a table index */
VQ_HELPER long vq_w_index(const vq_limb* a, int n, long last) {
    if (vq_w_isneg(a, n)) return 0;
    if (!vq_w_fits(a, n, 31) || (long)a[0] > last) return last;
    return (long)a[0];
}
/* d: an integer-valued finite double with |d| < 2^(32 n - 1) */
VQ_HELPER void vq_w_from_double(vq_limb* r, int n, double d) {
    int neg = d < 0, i;
    if (neg) d = -d;
    for (i = 0; i < n; i++) {
        double q = floor(ldexp(d, -32));
        r[i] = (vq_limb)(d - ldexp(q, 32));  /* exact */
        d = q;
    }
    if (neg) vq_w_neg(r, n);
}
VQ_HELPER double vq_w_to_double(const vq_limb* a, int n) {  /* close to a (for printing real values) */
    int neg = vq_w_isneg(a, n), i;
    double s = 0.0;
    for (i = n - 1; i >= 0; i--) s = s * 4294967296.0 + (double)(neg ? (vq_limb)~a[i] : a[i]);
    return neg ? -s - 1.0 : s;
}
/* decimal text ([+-]digits) modulo 2^(32 n); 0 when the text is not an integer */
VQ_HELPER int vq_w_from_dec(vq_limb* r, int n, const char* s) {
    int neg = 0, any = 0, i;
    vq_w_zero(r, n);
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    for (; *s; s++) {
        uint64_t c;
        if (*s < '0' || *s > '9') return 0;
        c = (uint64_t)(*s - '0');
        for (i = 0; i < n; i++) { c += (uint64_t)r[i] * 10u; r[i] = (vq_limb)c; c >>= 32; }
        any = 1;
    }
    if (neg) vq_w_neg(r, n);
    return any;
}
/* the decimal text of a (n <= VQ_MAXL) into buf (at least 10 n + 2 chars) */
VQ_HELPER void vq_w_to_dec(const vq_limb* a, int n, char* buf) {
    vq_limb t[VQ_MAXL];
    int neg = vq_w_isneg(a, n), len = 0, i, nz;
    for (i = 0; i < n; i++) t[i] = a[i];
    if (neg) vq_w_neg(t, n);  /* the magnitude, read as unsigned */
    do {
        uint64_t rem = 0;
        for (i = n - 1; i >= 0; i--) {
            uint64_t cur = (rem << 32) | t[i];
            t[i] = (vq_limb)(cur / 10u);
            rem = cur % 10u;
        }
        buf[len++] = (char)('0' + (int)rem);
        nz = 0;
        for (i = 0; i < n; i++) if (t[i]) { nz = 1; break; }
    } while (nz);
    if (neg) buf[len++] = '-';
    buf[len] = 0;
    for (i = 0; i < len / 2; i++) { char c = buf[i]; buf[i] = buf[len - 1 - i]; buf[len - 1 - i] = c; }
}
/* 1 when the decimal token t denotes the same integer as the canonical text c */
VQ_HELPER int vq_dec_same(const char* c, const char* t) {
    int neg = 0;
    if (*t == '+' || *t == '-') neg = *t++ == '-';
    while (*t == '0' && t[1]) t++;
    if (neg && !(t[0] == '0' && !t[1])) {
        if (*c != '-') return 0;
        c++;
    } else if (*c == '-') {
        return 0;
    }
    return strcmp(c, t) == 0;
}
"""


def wide_library(rounding: Rounding, max_limbs: int) -> list[str]:
    """The multi-limb helpers (C99, also valid C++), for a design's rounding mode; needs <stdint.h>,
    <math.h> and <string.h> and a VQ_HELPER macro."""
    near = rounding is Rounding.NEAREST
    text = WIDE_LIBRARY.replace("ROUNDING_ADD", "    vq_w_add_pow2(r, n, s - 1);\n" if near else "")
    text = text.replace("(ROUNDING)", "(nearest, ties up)" if near else "(floor)")
    return [f"#define VQ_MAXL {max(2, int(max_limbs))}  /* the most limbs of any value below */", *text.splitlines(), ""]


