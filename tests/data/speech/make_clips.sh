#!/usr/bin/env bash
# Regenerates the three committed test clips (espeak-ng + sox, repeatable mode): a 16-bit mono WAV
# at 8 kHz, an 8-bit stereo WAV at 8 kHz and a FLAC at 11.025 kHz, so the tests read three
# formats and resample from three rates. Kept small (about 10 KB each).
set -euo pipefail
cd "$(dirname "$0")"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
espeak-ng -v en-us+m3 -s 190 -w "$t/1.wav" "lights on"
sox -R "$t/1.wav" -r 8000 -b 16 -c 1 lights_on_8k.wav silence 1 0.02 0.5%
espeak-ng -v en-gb+f2 -s 190 -w "$t/2.wav" "music off"
sox -R "$t/2.wav" -r 8000 -b 8 -c 2 music_off_8k_stereo_u8.wav silence 1 0.02 0.5% remix 1 1v0.5
espeak-ng -v en-029+m5 -s 200 -w "$t/3.wav" "bring my shoes"
sox -R "$t/3.wav" -r 11025 -b 16 -c 1 bring_shoes_11k.flac silence 1 0.02 0.5%
