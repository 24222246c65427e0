// Message text is text: Preact writes it as text nodes, never as HTML. Web addresses become
// links that open without telling the site where they came from (noopener noreferrer).
import { linkify } from "./linkify";

export function RichText({ text }: { text: string }) {
  return (
    <>
      {linkify(text).map((part) =>
        part.href ? (
          <a href={part.href} target="_blank" rel="noopener noreferrer">
            {part.text}
          </a>
        ) : (
          part.text
        ),
      )}
    </>
  );
}
