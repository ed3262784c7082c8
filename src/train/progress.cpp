#include "train/progress.h"

#include <unistd.h>

#include <cmath>

namespace ds {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

Progress::Progress(std::string label, size_t total, std::FILE* out)
    : label_(std::move(label)), total_(total), out_(out), tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(size_t step, size_t images, double loss, double acc) {
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    // Redraw at most 5 times a second: a terminal is slow and the numbers barely move.
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
  } else {
    // In a log file, one line per 10% keeps the ETA visible without flooding it.
    int decile = total_ ? int(10 * step / total_) : 0;
    if (decile == last_decile_) return;
    last_decile_ = decile;
  }
  last_draw_ = now;
  draw(step, images, loss, acc, false);
}

void Progress::finish(size_t images, double loss, double acc) { draw(total_, images, loss, acc, true); }

void Progress::draw(size_t step, size_t images, double loss, double acc, bool final) {
  const double t = elapsed();
  const double frac = total_ ? double(step) / double(total_) : 1.0;
  const double eta = frac > 0 ? t * (1 - frac) / frac : NAN;
  const int width = 24, filled = int(frac * width + 0.5);
  std::string bar(size_t(filled), '#');
  bar.resize(size_t(width), '.');
  std::fprintf(out_, "%s%s [%s] %3.0f%% %zu/%zu  %.0f img/s  loss %.4f  acc %.2f%%  %s %s%s",
               tty_ ? "\r\033[K" : "", label_.c_str(), bar.c_str(), 100 * frac, step, total_,
               t > 0 ? double(images) / t : 0.0, loss, acc, final ? "time" : "ETA",
               format_duration(final ? t : eta).c_str(), (final || !tty_) ? "\n" : "");
  std::fflush(out_);
}

}  // namespace ds
