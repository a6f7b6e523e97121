/* CWA pages: live updates over the websocket, toasts, the queue's selection and keyboard.
 * Plain JavaScript on top of htmx 2; every page also works without it. */
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  /* ------------------------------------------------------------ sidebar (phones) */

  function initSidebar() {
    const button = $("#menu-button");
    const sidebar = $("#sidebar");
    const scrim = $("#scrim");
    if (!button || !sidebar) return;
    const set = (open) => {
      sidebar.classList.toggle("open", open);
      button.setAttribute("aria-expanded", String(open));
      if (scrim) scrim.hidden = !open;
    };
    button.addEventListener("click", () => set(!sidebar.classList.contains("open")));
    if (scrim) scrim.addEventListener("click", () => set(false));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && sidebar.classList.contains("open")) set(false);
    });
    document.addEventListener("click", (e) => {
      const toggle = e.target.closest("[data-toggle-filters]");
      if (!toggle) return;
      const more = document.getElementById(toggle.getAttribute("aria-controls"));
      const open = !more.classList.contains("open");
      more.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", String(open));
    });
  }

  /* ------------------------------------------------------------ toasts */

  const shownToasts = new Set();

  function toast({ title, kind, level, url, id }) {
    if (id !== undefined) {
      if (shownToasts.has(id)) return;
      shownToasts.add(id);
    }
    const box = $("#toasts");
    const tpl = $("#toast-template");
    if (!box || !tpl) return;
    const node = tpl.content.firstElementChild.cloneNode(true);
    node.classList.add(level || "info");
    if (level === "danger") node.setAttribute("role", "alert");
    const titleEl = $(".t-title", node);
    if (url) {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = title;
      titleEl.appendChild(link);
    } else {
      titleEl.textContent = title;
    }
    $(".t-kind", node).textContent = kind || "";
    box.appendChild(node);
    while (box.children.length > 4) box.firstElementChild.remove();
    autohide(node, level === "danger" ? 15000 : 8000);
  }

  function autohide(node, ms) {
    let timer = setTimeout(() => node.remove(), ms);
    node.addEventListener("mouseenter", () => clearTimeout(timer));
    node.addEventListener("mouseleave", () => (timer = setTimeout(() => node.remove(), 4000)));
  }

  function initToasts() {
    $$("#toasts [data-autohide]").forEach((node) => autohide(node, 7000));
    document.addEventListener("click", (e) => {
      const button = e.target.closest("[data-dismiss]");
      if (button) button.closest(".toast").remove();
    });
  }

  function setUnread(count) {
    $$("[data-unread-count]").forEach((el) => (el.textContent = count));
    $$("[data-unread-badge]").forEach((el) => el.classList.toggle("hot", count > 0));
  }

  /* ------------------------------------------------------------ live connection */

  const KIND_LABELS = {
    "action.pending": "Waiting for approval",
    "action.failed": "Execution failed",
    "action.needs_attention": "Needs attention",
    "action.decided": "Decision",
    "team.status": "Team status",
    "autonomy.suggested": "Earned autonomy",
  };

  function setLive(state, text) {
    $$("[data-live-indicator]").forEach((el) => {
      el.dataset.state = state;
      const label = $("[data-live-text]", el);
      if (label) label.textContent = text;
    });
  }

  function connect() {
    const path = document.body.dataset.wsPath;
    if (!path || !window.WebSocket) return;
    let delay = 1000;
    let opened = false;
    let wasDropped = false;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + path);
      socket.addEventListener("open", () => {
        delay = 1000;
        setLive("open", "Live");
        if (wasDropped) resync();
        opened = true;
      });
      socket.addEventListener("message", (e) => {
        let msg;
        try {
          msg = JSON.parse(e.data);
        } catch (err) {
          return;
        }
        handle(msg);
      });
      socket.addEventListener("close", (e) => {
        setLive("closed", "Reconnecting…");
        if (e.code === 4401) {
          setLive("closed", "Signed out");
          return;
        }
        wasDropped = opened;
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      });
      setInterval(() => {
        if (socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    };
    open();
  }

  function handle(msg) {
    switch (msg.type) {
      case "hello":
        setUnread(msg.unread);
        break;
      case "notification":
        setUnread(msg.unread);
        if (msg.toast) {
          toast({
            id: msg.id,
            title: msg.title + (msg.more ? ` (+${msg.more} more)` : ""),
            kind: KIND_LABELS[msg.kind] || msg.kind,
            level: msg.level,
            url: msg.url,
          });
        }
        break;
      case "actions":
        queueChanged(msg.ids, msg.proposed);
        detailChanged(msg.ids);
        break;
      case "team":
        $$(`[data-team-id="${msg.team}"] [data-team-dot]`).forEach((dot) => {
          if (msg.verb === "team.status_changed") dot.classList.toggle("paused", msg.to === "paused");
        });
        break;
      case "org": {
        const banner = $("[data-org-banner]");
        if (banner) {
          banner.hidden = !msg.paused;
          banner.textContent = msg.paused
            ? `Automation was stopped by ${msg.actor} (kill switch): every proposal waits for a person and nothing runs.`
            : "";
        }
        // The toast comes with the stored notification (kind organization.*), like team pauses.
        break;
      }
    }
  }

  function resync() {
    const results = $("#queue-results");
    if (results && window.htmx) {
      htmx.ajax("GET", location.pathname + location.search, { target: "#queue-results", swap: "innerHTML" });
    }
    const live = $("#action-live");
    if (live && window.htmx) htmx.trigger(live, "cwa:refresh");
  }

  function detailChanged(ids) {
    const live = $("#action-live");
    if (live && ids.includes(live.dataset.actionId) && window.htmx) htmx.trigger(live, "cwa:refresh");
  }

  /* ------------------------------------------------------------ live queue rows */

  let bulkAllMatching = false;
  let pendingIds = new Set();
  let pendingProposed = new Set();
  let flushTimer = null;
  let newElsewhere = 0;

  function queueChanged(ids, proposed) {
    const queue = $("[data-queue]");
    if (!queue) return;
    ids.forEach((id) => {
      if (document.getElementById("action-" + id) || proposed.includes(id)) pendingIds.add(id);
    });
    proposed.forEach((id) => pendingProposed.add(id));
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flushRows, 150);
  }

  async function flushRows() {
    const queue = $("[data-queue]");
    if (!queue || !pendingIds.size) return;
    const ids = Array.from(pendingIds).slice(0, 100);
    const proposed = pendingProposed;
    pendingIds = new Set();
    pendingProposed = new Set();
    const params = new URLSearchParams(queue.dataset.filterQuery || "");
    ids.forEach((id) => params.append("ids", id));
    let html;
    try {
      const response = await fetch(queue.dataset.rowsUrl + "?" + params.toString(), {
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      html = await response.text();
    } catch (err) {
      return;
    }
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const firstPage = queue.dataset.page === "1";
    let inserted = 0;
    $$("li.qrow", tpl.content).forEach((row) => {
      const existing = document.getElementById(row.id);
      if (existing) {
        replaceRow(existing, row);
        return;
      }
      const fresh = row.dataset.matches === "1" && row.dataset.status === "pending";
      if (!fresh || !proposed.has(row.dataset.actionId)) return;
      const list = targetList(queue, row);
      if (firstPage && list) {
        row.classList.add("is-new");
        list.prepend(row);
        if (window.htmx) htmx.process(row);
        inserted += 1;
      } else {
        newElsewhere += 1;
      }
    });
    const meta = $("[data-live-meta]", tpl.content);
    if (meta) {
      const count = $("#queue-count");
      if (count) count.textContent = `${meta.dataset.total} pending`;
      const nav = $("#nav-decidable");
      if (nav) {
        nav.lastChild.textContent = meta.dataset.decidable;
        nav.classList.toggle("hot", meta.dataset.decidable !== "0");
      }
    }
    if (inserted) {
      const empty = $("[data-queue-empty]", queue);
      if (empty) empty.hidden = true;
      announce(`${inserted} new pending ${inserted === 1 ? "action" : "actions"}`);
    }
    if (newElsewhere) showNewPill(queue);
    refreshSelection();
  }

  function targetList(queue, row) {
    if (queue.dataset.grouped === "1") {
      const group = $$(".qgroup", queue).find((g) => g.dataset.group === row.dataset.group);
      return group ? $(".qrows", group) : null;
    }
    return $("#queue-rows", queue);
  }

  function replaceRow(existing, row) {
    const wasOpen = $("details", existing) && $("details", existing).open;
    const check = $("[data-row-check]", existing);
    const wasChecked = check && check.checked;
    const note = $("textarea", existing);
    const noteText = note ? note.value : "";
    const wasCurrent = existing.classList.contains("is-current");
    existing.replaceWith(row);
    if (window.htmx) htmx.process(row);
    const newCheck = $("[data-row-check]", row);
    if (newCheck && wasChecked) newCheck.checked = true;
    const newNote = $("textarea", row);
    if (newNote && noteText) newNote.value = noteText;
    if (wasOpen && $("details", row)) $("details", row).open = true;
    if (wasCurrent) row.classList.add("is-current");
  }

  function showNewPill(queue) {
    let pill = $("[data-new-pill]", queue);
    if (!pill) {
      pill = document.createElement("a");
      pill.dataset.newPill = "";
      pill.className = "btn btn-primary btn-sm";
      pill.style.margin = "0 0 10px";
      const params = new URLSearchParams(queue.dataset.filterQuery || "");
      pill.href = "?" + params.toString();
      queue.prepend(pill);
    }
    pill.textContent = `${newElsewhere} new pending — show`;
  }

  function announce(text) {
    const live = $("#live-announcer");
    if (live) live.textContent = text;
  }

  /* ------------------------------------------------------------ countdowns */

  function tickCountdowns() {
    const now = Date.now();
    $$("[data-countdown]").forEach((el) => {
      const left = Math.floor((new Date(el.getAttribute("datetime")).getTime() - now) / 1000);
      let text;
      if (left <= 0) {
        text = "expired";
        const row = el.closest(".qrow");
        if (row) {
          row.classList.add("is-done");
          $$("[data-approve], [data-reject]", row).forEach((b) => (b.disabled = true));
        }
      } else if (left < 3600) {
        text = `${Math.floor(left / 60)}m ${String(left % 60).padStart(2, "0")}s`;
      } else if (left < 86400) {
        text = `${Math.floor(left / 3600)}h ${Math.floor((left % 3600) / 60)}m`;
      } else {
        text = `${Math.floor(left / 86400)}d ${Math.floor((left % 86400) / 3600)}h`;
      }
      el.classList.toggle("soon", left < 3600);
      el.textContent = text;
      el.setAttribute("aria-label", left <= 0 ? "expired" : `expires in ${text}`);
    });
  }

  /* ------------------------------------------------------------ selection */

  function rows() {
    return $$("[data-queue] .qrow");
  }

  function refreshSelection() {
    const form = $("#bulk-form");
    const checks = $$("[data-row-check]");
    const selected = checks.filter((c) => c.checked);
    checks.forEach((c) => c.closest(".qrow").classList.toggle("is-selected", c.checked));
    if (!form) return;
    const all = form.querySelector("[name=all_matching]");
    const queue = $("[data-queue]");
    const total = queue ? Number(queue.dataset.total) : 0;
    const allOnPage = checks.length > 0 && selected.length === checks.length;
    if (!allOnPage && all) all.value = "";
    const count = all && all.value ? total : selected.length;
    form.dataset.empty = String(count === 0);
    $$("[data-selected-count]", form).forEach((el) => (el.textContent = count));
    const pageBox = $("#select-page");
    if (pageBox) {
      pageBox.checked = allOnPage;
      pageBox.indeterminate = selected.length > 0 && !allOnPage;
    }
    const more = $("[data-select-all-matching]", form);
    if (more) more.hidden = !(allOnPage && total > checks.length && !(all && all.value));
    $$(".qgroup").forEach((group) => {
      const box = $("[data-select-group]", group);
      const inGroup = $$("[data-row-check]", group);
      if (box) {
        box.checked = inGroup.length > 0 && inGroup.every((c) => c.checked);
        box.indeterminate = !box.checked && inGroup.some((c) => c.checked);
      }
    });
  }

  function initSelection() {
    document.addEventListener("change", (e) => {
      const t = e.target;
      if (t.matches("[data-row-check]")) refreshSelection();
      if (t.id === "select-page") {
        $$("[data-row-check]").forEach((c) => (c.checked = t.checked));
        refreshSelection();
      }
      if (t.matches("[data-select-group]")) {
        $$("[data-row-check]", t.closest(".qgroup")).forEach((c) => (c.checked = t.checked));
        refreshSelection();
      }
    });
    document.addEventListener("click", (e) => {
      const more = e.target.closest("[data-select-all-matching]");
      if (more) {
        const form = $("#bulk-form");
        form.querySelector("[name=all_matching]").value = "on";
        more.hidden = true;
        refreshSelection();
      }
    });
    document.addEventListener("submit", (e) => {
      const form = e.target;
      if (form.id !== "bulk-form") return;
      const all = form.querySelector("[name=all_matching]");
      bulkAllMatching = Boolean(all && all.value);
      if (all && all.value) {
        const verb = e.submitter && e.submitter.value === "reject" ? "Reject" : "Approve";
        const total = $("[data-queue]").dataset.total;
        if (!window.confirm(`${verb} all ${total} matching actions?`)) {
          e.preventDefault();
          e.stopImmediatePropagation();
        }
      }
    }, true);
  }

  /* ------------------------------------------------------------ keyboard */

  let current = -1;
  let advance = false; // after a keyboard decision, move on to the next action (like Gmail)

  function setCurrent(index) {
    const list = rows();
    if (!list.length) return;
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach((r, i) => r.classList.toggle("is-current", i === current));
    const row = list[current];
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function currentRow() {
    const list = rows();
    const marked = list.findIndex((r) => r.classList.contains("is-current"));
    if (marked >= 0) current = marked;
    return current >= 0 ? list[current] : null;
  }

  function typing(el) {
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }

  function selectedCount() {
    return $$("[data-row-check]").filter((c) => c.checked).length;
  }

  function rejectWithNote(row) {
    const details = $("details", row);
    const note = $("textarea", row);
    if (!details || !note) return;
    details.open = true;
    note.dataset.intent = "reject";
    const hint = $("[data-note-hint]", row);
    if (hint) hint.hidden = false;
    note.focus();
  }

  function initKeyboard() {
    document.addEventListener("keydown", (e) => {
      if (!$("[data-queue]") && e.key !== "?") return;
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const target = e.target;
      if (typing(target)) {
        if (e.key === "Escape") {
          target.blur();
          delete target.dataset.intent;
        }
        if (e.key === "Enter" && !e.shiftKey && target.dataset.intent === "reject") {
          e.preventDefault();
          const row = target.closest(".qrow");
          const form = target.closest("#bulk-form");
          const button = row ? $("[data-reject]", row) : form ? $("button[value=reject]", form) : null;
          if (button) {
            advance = Boolean(row);
            button.click();
          }
        }
        return;
      }
      // Enter and space keep their meaning on links, buttons and the details toggle.
      if ((e.key === "Enter" || e.key === " ") && target.closest("a, button, summary")) return;
      const row = currentRow();
      switch (e.key) {
        case "j":
          setCurrent(current + 1);
          break;
        case "k":
          setCurrent(current < 0 ? 0 : current - 1);
          break;
        case "x": {
          const box = row && $("[data-row-check]", row);
          if (box) {
            box.checked = !box.checked;
            refreshSelection();
          }
          break;
        }
        case "a": {
          if (selectedCount() || ($("#bulk-form [name=all_matching]") || {}).value) {
            $("#bulk-form button[value=approve]").click();
          } else if (row) {
            const button = $("[data-approve]", row);
            if (button && !button.disabled) {
              advance = true;
              button.click();
            }
          }
          break;
        }
        case "r": {
          if (selectedCount()) {
            const notes = $("#bulk-form [name=notes]");
            notes.dataset.intent = "reject";
            notes.placeholder = "Reason, then Enter to reject the selected";
            notes.focus();
          } else if (row && $("[data-reject]", row)) {
            rejectWithNote(row);
          }
          break;
        }
        case "o":
        case "Enter": {
          const details = row && $("details", row);
          if (details) details.open = !details.open;
          break;
        }
        case "/": {
          const search = $("#q");
          if (search) search.focus();
          break;
        }
        case "?": {
          const dialog = $("#shortcuts");
          if (dialog && dialog.showModal) dialog.showModal();
          break;
        }
        case "Escape": {
          $$("[data-row-check]").forEach((c) => (c.checked = false));
          refreshSelection();
          break;
        }
        default:
          return;
      }
      e.preventDefault();
    });
    document.addEventListener("click", (e) => {
      const opener = e.target.closest("[data-open-shortcuts]");
      if (opener) $("#shortcuts").showModal();
      const row = e.target.closest(".qrow");
      if (row) {
        const index = rows().indexOf(row);
        if (index >= 0) {
          current = index;
          rows().forEach((r, i) => r.classList.toggle("is-current", i === index));
        }
      }
    });
  }

  /* ------------------------------------------------------------ htmx glue */

  function nextDecidable(from) {
    const list = rows();
    for (let i = from + 1; i < list.length; i += 1) {
      if ($("[data-approve]", list[i])) return i;
    }
    return Math.min(from + 1, list.length - 1);
  }

  function initHtmx() {
    let focusWasInside = false;
    document.body.addEventListener("htmx:beforeSwap", (e) => {
      const target = e.detail.target;
      focusWasInside = Boolean(target && target.contains(document.activeElement));
    });
    document.body.addEventListener("htmx:afterSettle", () => {
      refreshSelection();
      tickCountdowns();
      const list = rows();
      if (current >= 0 && list.length) {
        if (advance) current = nextDecidable(current);
        advance = false;
        list.forEach((r, i) => r.classList.toggle("is-current", i === current));
        // Give focus back to the queue only if nothing else took it meanwhile (a quick "/").
        const idle = !document.activeElement || document.activeElement === document.body;
        if (focusWasInside && idle && list[current]) list[current].focus({ preventScroll: false });
      }
      focusWasInside = false;
    });
    document.body.addEventListener("htmx:afterRequest", (e) => {
      const form = e.detail.elt;
      if (form && form.id === "bulk-form" && e.detail.successful) {
        if (bulkAllMatching) queueChanged(rows().map((r) => r.dataset.actionId), []);
        bulkAllMatching = false;
        form.querySelector("[name=notes]").value = "";
        form.querySelector("[name=all_matching]").value = "";
        const notes = form.querySelector("[name=notes]");
        delete notes.dataset.intent;
        notes.placeholder = "Note for all selected (optional)";
      }
    });
    document.body.addEventListener("htmx:responseError", (e) => {
      toast({ title: `The server answered ${e.detail.xhr.status}. Try again.`, level: "danger" });
    });
    document.body.addEventListener("htmx:sendError", () => {
      toast({ title: "Could not reach the server. Check your connection.", level: "danger" });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    initSidebar();
    initToasts();
    initSelection();
    initKeyboard();
    initHtmx();
    refreshSelection();
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
    connect();
  });

  window.cwa = { toast, handle };
})();
