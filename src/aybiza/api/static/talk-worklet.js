// Audio worklets of the browser test call (AYBIZA): "capture-8k" turns the microphone into
// 20 ms frames of 8 kHz mu-law (low-pass, then decimate); "player-8k" plays the agent's
// 8 kHz mu-law behind a small jitter buffer and reports each mark once the audio before it
// has played. No libraries.
"use strict";

const TARGET_RATE = 8000;
const FRAME_SAMPLES = 160; // 20 ms at 8 kHz

function muLawEncode(value) {
  // value: -1..1 float -> G.711 mu-law byte
  let sample = Math.max(-32768, Math.min(32767, Math.round(value * 32767)));
  const sign = sample < 0 ? 0x80 : 0;
  if (sign) sample = -sample;
  sample = Math.min(sample, 32635) + 0x84;
  let exponent = 7;
  let mask = 0x4000;
  while ((sample & mask) === 0 && exponent > 0) {
    exponent -= 1;
    mask >>= 1;
  }
  const mantissa = (sample >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

const MU_LAW_DECODE = new Float32Array(256);
for (let byte = 0; byte < 256; byte += 1) {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  MU_LAW_DECODE[byte] = ((u & 0x80) ? -magnitude : magnitude) / 32768;
}

// A second-order Butterworth low-pass (RBJ cookbook biquad).
class LowPass {
  constructor(cutoffHz, rate) {
    const w = (2 * Math.PI * cutoffHz) / rate;
    const alpha = Math.sin(w) / (2 * Math.SQRT1_2);
    const cos = Math.cos(w);
    const a0 = 1 + alpha;
    this.b0 = (1 - cos) / 2 / a0;
    this.b1 = (1 - cos) / a0;
    this.b2 = this.b0;
    this.a1 = (-2 * cos) / a0;
    this.a2 = (1 - alpha) / a0;
    this.x1 = 0; this.x2 = 0; this.y1 = 0; this.y2 = 0;
  }

  step(x) {
    const y = this.b0 * x + this.b1 * this.x1 + this.b2 * this.x2 - this.a1 * this.y1 - this.a2 * this.y2;
    this.x2 = this.x1; this.x1 = x; this.y2 = this.y1; this.y1 = y;
    return y;
  }
}

class Capture8k extends AudioWorkletProcessor {
  constructor() {
    super();
    // Two cascaded sections: fourth order, well below the 4 kHz Nyquist of the output.
    this.filters = [new LowPass(3400, sampleRate), new LowPass(3400, sampleRate)];
    this.step = sampleRate / TARGET_RATE;
    this.next = 0; // position of the next output sample, in input samples
    this.index = 0; // position of the current input sample
    this.previous = 0;
    this.frame = new Uint8Array(FRAME_SAMPLES);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i += 1) {
      let sample = channel[i];
      for (const filter of this.filters) sample = filter.step(sample);
      while (this.next <= this.index) {
        const fraction = this.next - (this.index - 1);
        const value = this.previous + (sample - this.previous) * fraction;
        this.frame[this.filled] = muLawEncode(value);
        this.filled += 1;
        if (this.filled === FRAME_SAMPLES) {
          this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
          this.frame = new Uint8Array(FRAME_SAMPLES);
          this.filled = 0;
        }
        this.next += this.step;
      }
      this.previous = sample;
      this.index += 1;
    }
    return true;
  }
}

class Player8k extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const prebufferMs = (options.processorOptions && options.processorOptions.prebufferMs) || 80;
    this.prebuffer = Math.round((sampleRate * prebufferMs) / 1000);
    this.queue = []; // {samples, offset} or {mark}
    this.buffered = 0; // output samples queued
    this.marks = 0;
    this.playing = false;
    this.ratio = TARGET_RATE / sampleRate; // input samples per output sample
    this.position = 0; // read position between the last input sample and the next
    this.last = 0;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.clear) {
      this.queue = [];
      this.buffered = 0;
      this.marks = 0;
      this.playing = false;
      this.position = 0;
      return;
    }
    if (message.mark) {
      this.queue.push({ mark: message.mark });
      this.marks += 1;
      return;
    }
    const input = new Uint8Array(message.audio);
    // Linear interpolation from 8 kHz to the context's rate.
    const out = [];
    let position = this.position;
    let last = this.last;
    for (let i = 0; i < input.length; i += 1) {
      const current = MU_LAW_DECODE[input[i]];
      while (position < 1) {
        out.push(last + (current - last) * position);
        position += this.ratio;
      }
      position -= 1;
      last = current;
    }
    this.position = position;
    this.last = last;
    const samples = Float32Array.from(out);
    this.queue.push({ samples, offset: 0 });
    this.buffered += samples.length;
  }

  process(_inputs, outputs) {
    const output = outputs[0][0];
    // Start once the jitter buffer holds enough, or a mark says a piece of speech is whole.
    if (!this.playing && (this.buffered >= this.prebuffer || this.marks > 0)) this.playing = true;
    let written = 0;
    while (written < output.length && this.queue.length > 0) {
      const head = this.queue[0];
      if (head.mark) {
        this.queue.shift();
        this.marks -= 1;
        this.port.postMessage({ mark: head.mark });
        continue;
      }
      if (!this.playing) break;
      const take = Math.min(output.length - written, head.samples.length - head.offset);
      output.set(head.samples.subarray(head.offset, head.offset + take), written);
      head.offset += take;
      written += take;
      this.buffered -= take;
      if (head.offset === head.samples.length) this.queue.shift();
    }
    output.fill(0, written);
    // Ran dry: buffer again before playing on (a late packet must not cause crackle).
    if (this.buffered === 0 && this.marks === 0) this.playing = false;
    return true;
  }
}

registerProcessor("capture-8k", Capture8k);
registerProcessor("player-8k", Player8k);
