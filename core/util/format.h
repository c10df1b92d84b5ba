#pragma once
// Fixed-point numbers for the aligned text tables the command line prints.

#include <cmath>
#include <cstdio>
#include <string>

namespace tllm::util {

/// `v` with `prec` decimals right-aligned in `width` characters; NaN (no value) as "-".
inline std::string fixed_or_dash(double v, int width, int prec) {
    char b[64];
    if (std::isnan(v))
        std::snprintf(b, sizeof b, "%*s", width, "-");
    else
        std::snprintf(b, sizeof b, "%*.*f", width, prec, v);
    return b;
}

}  // namespace tllm::util
