// The call simulator page: plain JavaScript over /simulator/api. The server owns all state; the page
// polls it, so calls the app places in the background (an investigator's phone ringing) show up too.
"use strict";

const api = "/simulator/api";
let callSid = null;
let callActive = false;
let shown = 0; // transcript events already on the page (appended, never re-rendered, so audio keeps playing)

const $ = (id) => document.getElementById(id);

async function send(method, path, body) {
  $("error").textContent = "";
  const response = await fetch(api + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    $("error").textContent = (json && (json.detail || json.title)) || `HTTP ${response.status}`;
    return null;
  }
  return json;
}

function render(state) {
  if (!state) return;
  $("clock").textContent = `Time: ${Math.round(state.now)} s`;
  renderTimeHint(state.legs);
  renderCall(state.call);
  renderPhones(state.phones);
  renderSpeakers(state.phones);
  renderConferences(state.conferences);
  renderTexts(state.texts);
}

// Time stands still between actions: say so plainly while a call is up, and what makes it move.
function renderTimeHint(legs) {
  const hint = $("time-hint");
  const active = legs.filter((l) => l.state !== "Completed");
  hint.hidden = active.length === 0;
  if (!active.length) return;
  const wait = +$("wait-seconds").value || 30;
  if ($("time-runs").checked) {
    hint.textContent = "Time runs by itself while calls are up.";
  } else if (active.some((l) => l.needsHuman)) {
    hint.textContent = `Time is paused until someone acts: a call waits for keys, a recording or an answer (or press Wait to let ${wait} s pass).`;
  } else {
    hint.textContent = `Time is paused until someone acts: press Wait to let ${wait} s pass (queue or hold music, ringing, a conference), or let time run by itself.`;
  }
}

function renderSpeakers(phones) {
  const select = $("phone-say-number");
  const numbers = phones.filter((p) => p.call && p.call.state !== "Completed").map((p) => p.number);
  const key = numbers.join(" ");
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  const chosen = select.value;
  select.replaceChildren(...numbers.map((n) => new Option(n, n, false, n === chosen)));
}

function renderConferences(conferences) {
  const list = $("conferences");
  const key = JSON.stringify(conferences);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...conferences.map((c) => {
    const li = document.createElement("li");
    const title = document.createElement("h3");
    title.textContent = `${c.friendlyName}: ${c.status === "init" ? "waiting to start" : c.status} (${c.sid})`;
    li.appendChild(title);
    const people = document.createElement("ul");
    for (const p of c.participants) {
      const item = document.createElement("li");
      item.textContent = `${p.label ? p.label + ": " : ""}${p.direction === "inbound" ? p.from : p.to} (${p.callSid}), ${p.status}${flags(p)}`;
      people.appendChild(item);
    }
    li.appendChild(people);
    return li;
  }));
}

function flags(p) {
  const list = [];
  if (p.muted) list.push("muted");
  if (p.hold) list.push("on hold");
  if (p.coaching) list.push(p.callSidToCoach ? `coaching ${p.callSidToCoach}` : "coaching");
  return list.length ? `: ${list.join(", ")}` : "";
}

// The texting panel shows the thread of the number and channel chosen in its form, as that phone shows it.
function renderTexts(threads) {
  const number = $("text-from").value.trim();
  const channel = $("text-channel").value;
  const thread = threads.find((t) => t.number === number && t.channel === channel);
  const list = $("conversation");
  const key = JSON.stringify(thread || null);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  if (thread && document.activeElement !== $("text-delivery")) $("text-delivery").value = thread.delivery;
  list.replaceChildren(...(thread ? thread.texts : []).map(textItem));
  list.scrollTop = list.scrollHeight;
}

function textItem(text) {
  const li = document.createElement("li");
  li.className = text.fromPhone ? "sent" : "received";
  li.appendChild(document.createTextNode(text.body));
  const time = new Date(text.at).toLocaleTimeString();
  const media = text.mediaCount ? `, ${text.mediaCount} attachment(s)` : "";
  const status = text.fromPhone
    ? `You, ${time}${media}: ${text.status === "received" ? "received by the hotline" : `not taken (${text.status})`}`
    : `Hotline, ${time}: ${text.status}${text.errorCode ? ` (error ${text.errorCode})` : ""}`;
  li.appendChild(document.createElement("br"));
  li.appendChild(meta(status));
  return li;
}

function renderCall(call) {
  const active = call && call.state !== "Completed";
  callActive = !!active;
  $("hangup").disabled = !active;
  $("call").disabled = !!active;
  if (!call) {
    $("call-status").textContent = "No call.";
    return;
  }
  const queue = call.queue ? ` in queue "${call.queue}"` : "";
  const room = call.conference ? ` "${call.conference}"${flags(call)}` : "";
  $("call-status").textContent = `Call ${call.sid}: ${describeState(call.state)}${queue}${room} (Twilio status ${call.status}).`;
  const list = $("transcript");
  for (const event of call.transcript.slice(shown)) list.appendChild(eventItem(event));
  shown = call.transcript.length;
}

function describeState(state) {
  return {
    WaitingForDigits: "waiting for you to press keys",
    Recording: "recording: speak (Record a message) or stay silent",
    InQueue: "waiting in a queue",
    Bridged: "talking with an investigator",
    InConference: "in conference",
    Dialing: "ringing phones",
    Completed: "ended",
  }[state] || state.toLowerCase();
}

function seconds(at) {
  // TimeSpan as "hh:mm:ss.fffffff" → seconds.
  const [h, m, s] = at.split(":");
  return Math.round((+h * 3600 + +m * 60 + parseFloat(s)) * 10) / 10;
}

function eventItem(e) {
  const li = document.createElement("li");
  const time = document.createElement("span");
  time.className = "meta";
  time.textContent = `${seconds(e.at)} s `;
  li.appendChild(time);
  const text = document.createElement("span");
  switch (e.kind) {
    case "said":
      text.className = "said";
      text.textContent = e.text;
      if (e.language) text.lang = e.language; // screen readers switch voice for Spanish, Bengali…
      li.appendChild(text);
      li.appendChild(meta(` (Say${e.language ? ", " + e.language : ""}${e.voice ? ", " + e.voice : ""})`));
      return li;
    case "played": {
      text.textContent = `Play ${e.url}${e.httpStatus && e.httpStatus >= 400 ? ` (HTTP ${e.httpStatus}!)` : ""} `;
      li.appendChild(text);
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = e.url;
      audio.setAttribute("aria-label", "Play the prompt");
      li.appendChild(audio);
      return li;
    }
    case "error":
      text.className = "error";
      text.textContent = `Application error ${e.errorCode}: ${e.message}${e.statusCode ? ` (HTTP ${e.statusCode})` : ""}`;
      break;
    case "webhook":
      text.className = "meta";
      text.textContent = `${e.method} ${e.url} (${e.purpose}) → ${e.statusCode || "no answer"}`;
      break;
    default:
      text.textContent = describeEvent(e);
  }
  li.appendChild(text);
  return li;
}

function meta(textContent) {
  const span = document.createElement("span");
  span.className = "meta";
  span.textContent = textContent;
  return span;
}

function describeEvent(e) {
  switch (e.kind) {
    case "paused": return `(silence ${e.seconds} s)`;
    case "gather": return `Waiting for keys${e.numDigits ? ` (${e.numDigits})` : ""}, finish with "${e.finishOnKey}", ${e.timeoutSeconds} s timeout`;
    case "pressed": return `Pressed ${e.digits}`;
    case "gather-timed-out": return "No keys pressed: the prompt timed out";
    case "recording-started": return `Recording (beep${e.beep ? "" : " off"}), up to ${e.maxLengthSeconds} s`;
    case "recorded": return e.recordingSid ? `Recorded ${e.durationSeconds} s (${e.digits || "ended"})` : "Recording ended silent";
    case "enqueued": return `Joined queue "${e.queue}"`;
    case "queue-exited": return `Left queue "${e.queue}": ${e.result} after ${e.queueTimeSeconds} s`;
    case "dialed": return `Dialing ${e.targets.join(", ")}`;
    case "dial-ended": return `Dial ended: ${e.dialCallStatus}${e.dialCallDurationSeconds ? `, ${e.dialCallDurationSeconds} s` : ""}`;
    case "ringing": return "Ringing";
    case "answered": return "Answered";
    case "bridged": return `Connected with ${e.withCallSid}`;
    case "unbridged": return `Disconnected from ${e.withCallSid}`;
    case "redirected": return `Redirected to ${e.url}`;
    case "hung-up": return `Call ended (${e.by}, ${e.callStatus})`;
    case "rejected": return `Rejected (${e.reason})`;
    case "conference-joined": return `Joined conference "${e.friendlyName}"`;
    case "conference-left": return `Left the conference (${e.reason})`;
    case "participant-joined": return `${e.label || e.callSid} joined the conference${e.beep ? " (beep)" : " (no beep: not announced)"}`;
    case "participant-left": return `${e.label || e.callSid} left the conference${e.beep ? " (beep)" : ""}`;
    case "hold": return e.hold ? "Put on hold: hears the hold music, not the conference" : "Taken off hold: back in the conference";
    case "spoke": return `You said: "${e.words}" (heard by ${e.heardBy})`;
    case "heard-speech": return `Heard ${e.fromCallSid} say: "${e.words}"`;
    default: return e.kind;
  }
}

function renderPhones(phones) {
  const list = $("phones");
  // Keep focus where it was: re-render only when something changed.
  const key = JSON.stringify(phones);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  const focused = document.activeElement && document.activeElement.dataset.focusKey;
  list.replaceChildren(...phones.map(phoneItem));
  if (focused) list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
}

function phoneItem(phone) {
  const li = document.createElement("li");
  li.className = "phone";
  const title = document.createElement("h3");
  title.textContent = `${phone.number}: ${phone.behavior}${phone.digits ? `, presses ${phone.digits}` : ""}`;
  li.appendChild(title);
  const call = phone.call;
  if (call) {
    li.appendChild(meta(`Call ${call.sid}: ${describeState(call.state)}${call.conference ? ` "${call.conference}"${flags(call)}` : ""}`));
    const group = document.createElement("div");
    group.className = "row";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", `Phone ${phone.number}`);
    const number = encodeURIComponent(phone.number);
    if (call.state === "Ringing" && phone.behavior === "manual") {
      group.append(
        button("Answer", `${phone.number}-answer`, () => act(`/phones/${number}/answer`, {})),
        button("Decline", `${phone.number}-decline`, () => act(`/phones/${number}/decline`, {})));
    } else {
      for (const key of "123456789*0#") {
        group.append(button(key, `${phone.number}-${key}`, () => act(`/phones/${number}/press`, { digits: key })));
      }
      group.append(button("Hang up", `${phone.number}-hangup`, () => act(`/phones/${number}/hangup`, {})));
    }
    li.appendChild(group);
  }
  if (phone.heard.length) {
    const heard = document.createElement("ol");
    heard.className = "heard";
    heard.setAttribute("aria-label", `What ${phone.number} heard`);
    for (const line of phone.heard) {
      const item = document.createElement("li");
      item.textContent = line;
      heard.appendChild(item);
    }
    li.appendChild(heard);
  }
  return li;
}

function button(label, focusKey, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.focusKey = focusKey;
  b.addEventListener("click", onClick);
  return b;
}

async function act(path, body) {
  render(await send("POST", path, body));
}

async function onCall(path, body) {
  if (!callSid) {
    $("error").textContent = "Start a call first.";
    return;
  }
  await act(`/calls/${callSid}/${path}`, body);
}

async function poll() {
  if ($("time-runs").checked) await send("POST", "/advance", { seconds: 1.5 });
  render(await send("GET", `/state${callSid ? `?call=${callSid}` : ""}`));
}

$("call-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("transcript").replaceChildren();
  shown = 0;
  callSid = null;
  const state = await send("POST", "/calls", { from: $("from").value.trim(), to: $("to").value.trim() || null });
  if (state && state.call) callSid = state.call.sid;
  render(state);
});
$("hangup").addEventListener("click", () => onCall("hangup", {}));
$("silence").addEventListener("click", () => onCall("silence", {}));
$("record").addEventListener("click", () => onCall("record", { seconds: +$("record-seconds").value, thenHangUp: $("record-hangup").checked }));
$("wait").addEventListener("click", async () => {
  // Without a call of your own, time passes for every call (investigators' phones, conferences).
  if (callSid && callActive) await onCall("wait", { seconds: +$("wait-seconds").value });
  else {
    await send("POST", "/advance", { seconds: +$("wait-seconds").value });
    await poll();
  }
});
$("say-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await onCall("say", { words: $("say-words").value });
  $("say-words").value = "";
});
$("phone-say-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const number = $("phone-say-number").value;
  if (!number) return;
  await act(`/phones/${encodeURIComponent(number)}/say`, { words: $("phone-say-words").value });
  $("phone-say-words").value = "";
});
$("time-runs").checked = localStorage.getItem("simulator-time-runs") === "1";
$("time-runs").addEventListener("change", () => localStorage.setItem("simulator-time-runs", $("time-runs").checked ? "1" : "0"));
for (const key of document.querySelectorAll(".keypad button")) {
  key.addEventListener("click", () => onCall("press", { digits: key.dataset.key }));
}
$("phone-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const number = $("phone-number").value.trim();
  render(await send("PUT", `/phones/${encodeURIComponent(number)}`, {
    behavior: $("phone-behavior").value,
    digits: $("phone-digits").value.trim() || null,
  }));
});
$("text-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const state = await send("POST", "/texts", {
    from: $("text-from").value.trim(),
    channel: $("text-channel").value,
    body: $("text-body").value,
    attachment: $("text-attachment").value || null,
  });
  if (state) {
    $("text-body").value = "";
    $("text-attachment").value = "";
  }
  render(state);
});
$("text-delivery").addEventListener("change", async () => {
  const number = $("text-from").value.trim();
  render(await send("PUT", `/texts/${encodeURIComponent(number)}`, { outcome: $("text-delivery").value }));
});
$("text-channel").addEventListener("change", poll);

poll();
setInterval(poll, 1500);
