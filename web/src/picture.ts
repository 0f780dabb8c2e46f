// A picture for a video, drawn from its id: the same id always gives the same
// picture, different ids different colours and shapes. Returned as a data: URL
// of an SVG, so nothing is fetched.

/** hash is FNV-1a over the id's UTF-16 code units. */
export function hash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** pictureSVG returns the SVG source of the picture of id. */
export function pictureSVG(id: string): string {
  let h = hash(id);
  const next = (n: number) => {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h ^= h >>> 13;
    return h % n;
  };
  const hue = next(360);
  const hue2 = (hue + 40 + next(100)) % 360;
  const shapes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const x = next(160);
    const y = next(90);
    const r = 8 + next(30);
    const light = 55 + next(35);
    const op = (0.35 + next(40) / 100).toFixed(2);
    shapes.push(
      i % 2 === 0
        ? `<circle cx="${x}" cy="${y}" r="${r}" fill="hsl(${(hue + i * 25) % 360} 70% ${light}%)" fill-opacity="${op}"/>`
        : `<rect x="${x - r}" y="${y - r / 2}" width="${r * 2}" height="${r}" rx="4" fill="hsl(${hue2} 65% ${light}%)" fill-opacity="${op}" transform="rotate(${next(90) - 45} ${x} ${y})"/>`,
    );
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 90">` +
    `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">` +
    `<stop offset="0" stop-color="hsl(${hue} 60% 30%)"/><stop offset="1" stop-color="hsl(${hue2} 55% 20%)"/>` +
    `</linearGradient></defs><rect width="160" height="90" fill="url(#g)"/>${shapes.join("")}` +
    `<path d="M70 32v26l22-13z" fill="#fff" fill-opacity=".85"/></svg>`
  );
}

/** pictureURL returns the picture of id as a data: URL. */
export function pictureURL(id: string): string {
  return "data:image/svg+xml;charset=utf-8," + encodeURIComponent(pictureSVG(id));
}
