// A small, safe Markdown subset (headings, paragraphs, lists, emphasis,
// inline code, code blocks, links): text is always set as text, never as
// HTML, so a tree cannot inject markup.

const INLINE = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/g;

function inline(parent: HTMLElement, line: string): void {
  for (const part of line.split(INLINE)) {
    if (!part) continue;
    let el: HTMLElement | null = null;
    if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
      el = document.createElement("strong");
      el.textContent = part.slice(2, -2);
    } else if (part.startsWith("*") && part.endsWith("*") && part.length > 2) {
      el = document.createElement("em");
      el.textContent = part.slice(1, -1);
    } else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) {
      el = document.createElement("code");
      el.textContent = part.slice(1, -1);
    } else {
      const link = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(part);
      if (link && /^(https?:|#|\/)/.test(link[2])) {
        const a = document.createElement("a");
        a.textContent = link[1];
        a.href = link[2];
        a.target = "_blank";
        a.rel = "noopener";
        el = a;
      }
    }
    parent.append(el ?? document.createTextNode(part));
  }
}

export function renderMarkdown(el: HTMLElement, source: string): void {
  el.replaceChildren();
  const lines = source.replace(/\r\n/g, "\n").split("\n");
  let list: HTMLElement | null = null;
  let para: HTMLElement | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code: string[] = [];
      while (++i < lines.length && !lines[i].startsWith("```")) code.push(lines[i]);
      const pre = document.createElement("pre");
      const c = document.createElement("code");
      c.textContent = code.join("\n");
      pre.append(c);
      el.append(pre);
      list = para = null;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*([-*]|\d+\.)\s+(.*)$/.exec(line);
    if (heading) {
      const h = document.createElement(`h${heading[1].length}`);
      inline(h, heading[2]);
      el.append(h);
      list = para = null;
    } else if (item) {
      const ordered = /\d/.test(item[1]);
      if (!list || (list.tagName === "OL") !== ordered) {
        list = document.createElement(ordered ? "ol" : "ul");
        el.append(list);
      }
      const li = document.createElement("li");
      inline(li, item[2]);
      list.append(li);
      para = null;
    } else if (line.trim() === "") {
      list = para = null;
    } else {
      if (!para) {
        para = document.createElement("p");
        el.append(para);
      } else {
        para.append(document.createTextNode(" "));
      }
      inline(para, line);
      list = null;
    }
  }
}
