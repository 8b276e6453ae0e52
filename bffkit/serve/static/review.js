// bffkit review page: one POST per click, acknowledged on the card; keyboard shortcuts.
"use strict";
(function () {
  const cards = Array.from(document.querySelectorAll(".card"));
  const KEYS = { "1": "positive", u: "positive", "2": "negative", d: "negative", "0": "neutral", n: "neutral" };
  const LABEL = { positive: "👍", negative: "👎", neutral: "neutral" };

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function acknowledge(card, text, state) {
    const ack = card.querySelector(".ack");
    ack.textContent = text;
    ack.className = "ack " + state;
  }

  async function send(card, kind) {
    const buttons = card.querySelectorAll(".choice");
    const comment = card.querySelector(".comment").value.trim();
    // one id per click: a retry of this click (network hiccup) is stored once
    const event = { image_id: card.dataset.image, feedback_type: kind, source: "review", client_event_id: newId() };
    if (comment) event.comment = comment;
    buttons.forEach((b) => { b.disabled = true; });
    acknowledge(card, "saving…", "");
    try {
      let response;
      for (let attempt = 0; attempt < 3; attempt++) {
        response = await fetch("/api/feedback/events", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Bffkit-Review": "1" },
          body: JSON.stringify(event),
        });
        if (response.status !== 429 && response.status < 500) break;
        const wait = Number(response.headers.get("Retry-After") || 1);
        await new Promise((r) => setTimeout(r, Math.min(wait, 5) * 1000));
      }
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.message || body.detail || response.statusText);
      }
      buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.kind === kind)));
      card.dataset.verdict = kind;
      acknowledge(card, "saved " + LABEL[kind] + (comment ? " with your comment" : ""), "ok");
    } catch (err) {
      acknowledge(card, "not saved: " + err.message + " (click again)", "failed");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function focusCard(index) {
    if (!cards.length) return;
    const card = cards[Math.max(0, Math.min(cards.length - 1, index))];
    cards.forEach((c) => c.classList.toggle("current", c === card));
    card.focus();
    card.scrollIntoView({ block: "nearest" });
  }

  cards.forEach((card, index) => {
    card.querySelectorAll(".choice").forEach((button) => {
      button.addEventListener("click", () => send(card, button.dataset.kind));
    });
    const input = card.querySelector(".comment");
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); send(card, card.dataset.verdict || "neutral"); }
      if (e.key === "Escape") { e.preventDefault(); card.focus(); }
      e.stopPropagation();
    });
    card.addEventListener("focus", () => cards.forEach((c) => c.classList.toggle("current", c === card)));
    card.addEventListener("keydown", (e) => {
      if (e.target !== card || e.altKey || e.ctrlKey || e.metaKey) return;
      const key = e.key.toLowerCase();
      if (KEYS[key]) { e.preventDefault(); send(card, KEYS[key]); }
      else if (key === "arrowright" || key === "j") { e.preventDefault(); focusCard(index + 1); }
      else if (key === "arrowleft" || key === "k") { e.preventDefault(); focusCard(index - 1); }
      else if (key === "c") { e.preventDefault(); input.focus(); }
    });
    const pressed = card.querySelector('.choice[aria-pressed="true"]');
    if (pressed) card.dataset.verdict = pressed.dataset.kind;
  });
})();
