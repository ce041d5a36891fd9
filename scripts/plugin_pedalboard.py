"""Third-party host check: Spotify's pedalboard (JUCE's VST3 hosting) loads the widen VST3 bundle
and processes a file of real speech.

Run (the widen test `plugin_pedalboard` does this):
    .cache/venv/bin/python scripts/plugin_pedalboard.py target/bundle/widen.vst3 IN.wav OUT.wav

Reads IN.wav, processes it at its own rate through the plugin (mix 100 %, default parameters),
writes OUT.wav, and prints one JSON line: parameter names, sample rate, reported latency,
lag of the output against the input (cross-correlation), peak and finiteness. Exits non-zero
when the plugin cannot be loaded or the output is not finite. Deterministic.
"""
import json
import sys

import numpy as np
import pedalboard
from pedalboard.io import AudioFile


def main() -> int:
    bundle, src, dst = sys.argv[1:4]
    plugin = pedalboard.load_plugin(bundle)
    with AudioFile(src) as f:
        rate = f.samplerate
        x = f.read(f.frames)
    if x.shape[0] == 1:
        x = np.vstack([x, x])  # the plugin's default layout is stereo
    y = plugin.process(x.astype(np.float32), sample_rate=rate, buffer_size=512, reset=True)
    with AudioFile(dst, "w", samplerate=rate, num_channels=y.shape[0]) as f:
        f.write(y)
    finite = bool(np.isfinite(y).all())
    # Lag of the output's first channel against the input (search 0..1 s).
    a, b = x[0].astype(np.float64), y[0].astype(np.float64)
    n = len(a)
    spec = np.fft.rfft(b, 2 * n) * np.conj(np.fft.rfft(a, 2 * n))
    corr = np.fft.irfft(spec, 2 * n)[: min(n, rate)]
    lag = int(np.argmax(corr))
    report = {
        "host": "pedalboard " + pedalboard.__version__,
        "parameters": sorted(plugin.parameters.keys()),
        "sample_rate": rate,
        "frames_in": int(x.shape[1]),
        "frames_out": int(y.shape[1]),
        "lag": lag,
        "peak_in": float(np.abs(x).max()),
        "peak_out": float(np.abs(y).max()),
        "finite": finite,
    }
    print(json.dumps(report))
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
