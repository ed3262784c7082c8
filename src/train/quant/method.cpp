#include "train/quant/method.h"

#include <stdexcept>

namespace ds {

const char* method_name(Method m) {
  switch (m) {
    case Method::kFp32: return "fp32";
    case Method::kDenseShift: return "denseshift";
    case Method::kDeepShiftQ: return "deepshift-q";
    case Method::kShiftWithZero: return "shift-with-zero";
  }
  return "?";
}

Method parse_method(const std::string& s) {
  for (Method m : {Method::kFp32, Method::kDenseShift, Method::kDeepShiftQ, Method::kShiftWithZero})
    if (s == method_name(m)) return m;
  throw std::invalid_argument("unknown method '" + s +
                              "' (expected fp32, denseshift, deepshift-q or shift-with-zero)");
}

QuantSpec parse_spec(const std::string& s) {
  QuantSpec q;
  auto colon = s.find(':');
  q.method = parse_method(s.substr(0, colon));
  if (colon != std::string::npos) {
    try {
      size_t used = 0;
      q.bits = std::stoi(s.substr(colon + 1), &used);
      if (used != s.size() - colon - 1) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw std::invalid_argument("bad bit count in '" + s + "' (expected METHOD:BITS)");
    }
  }
  if (q.bits < 2 || q.bits > 5)
    throw std::invalid_argument("bits must be 2..5, got " + std::to_string(q.bits) + " in '" + s + "'");
  if (q.method == Method::kShiftWithZero && q.bits < 2)
    throw std::invalid_argument("shift-with-zero needs at least 2 bits");
  return q;
}

std::string spec_name(const QuantSpec& q) {
  if (q.method == Method::kFp32) return "fp32";
  return std::string(method_name(q.method)) + ":" + std::to_string(q.bits);
}

int exponent_latents(const QuantSpec& q) {
  int levels = 1 << (q.bits - 1);  // exponent codes per sign
  switch (q.method) {
    case Method::kDenseShift: return levels - 1;
    case Method::kShiftWithZero: return levels - 2;
    default: return 0;
  }
}

int latent_rows(const QuantSpec& q) {
  switch (q.method) {
    case Method::kDenseShift: return 1 + exponent_latents(q);
    case Method::kShiftWithZero: return 2 + exponent_latents(q);
    default: return 0;
  }
}

int max_exponent(const QuantSpec& q) { return exponent_latents(q); }

}  // namespace ds
