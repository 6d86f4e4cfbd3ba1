// A microphone level meter: the creator sees that sound is captured before and while going
// live. Web Audio reads the local stream (an AnalyserNode, nothing is played back); the bar is
// a CSS width and the number a data attribute, so no markup is ever written.

const POLL_MS = 100;
const WINDOW = 8192; // samples read per poll: longer than the poll, so no short sound is missed
const FALL = 0.85; // per poll: the bar falls back slowly, so a short sound stays readable

/** The peak of a block of samples as 0..100 on a decibel scale (-60 dBFS → 0, 0 dBFS → 100). */
export function peakLevel(samples) {
  let peak = 0;
  for (const s of samples) {
    const a = Math.abs(s);
    if (a > peak) peak = a;
  }
  if (peak <= 0.001) return 0;
  const db = 20 * Math.log10(peak);
  return Math.max(0, Math.min(100, Math.round(((db + 60) / 60) * 100)));
}

/**
 * mountMicLevel(meter, bar) → {watch(stream), stop()}
 * meter: the element with role="meter" (its data-level and aria-valuenow follow the level);
 * bar: the element whose width shows it.
 */
export function mountMicLevel(meter, bar) {
  let ctx = null;
  let source = null;
  let timer = null;
  let shown = 0;

  function show(level) {
    shown = level;
    bar.style.width = `${level}%`;
    meter.dataset.level = String(level);
    meter.setAttribute("aria-valuenow", String(level));
  }

  function stop() {
    clearInterval(timer);
    timer = null;
    if (source) source.disconnect();
    source = null;
    if (ctx) ctx.close().catch(() => {});
    ctx = null;
    meter.dataset.state = "off";
    show(0);
  }

  /** Follow the stream's first audio track; a stream without one shows the meter off. */
  function watch(stream) {
    stop();
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!stream || !Ctx || !stream.getAudioTracks().length) return;
    ctx = new Ctx();
    source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = WINDOW;
    source.connect(analyser); // an analyser needs no destination: nothing is heard
    const samples = new Float32Array(analyser.fftSize);
    meter.dataset.state = "on";
    // a studio opened by a click may start its context suspended until a gesture
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      show(Math.max(peakLevel(samples), Math.floor(shown * FALL)));
    }, POLL_MS);
  }

  show(0);
  return { watch, stop };
}
