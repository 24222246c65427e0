import { initials } from "./names";

export function Avatar({ title, photo, id }: { title: string; photo?: string | null; id: number }) {
  if (photo) return <img class="avatar" src={photo} alt="" width={44} height={44} loading="lazy" />;
  return (
    <span class={`avatar hue-${id % 8}`} aria-hidden="true">
      {initials(title)}
    </span>
  );
}
