import { t } from "../../i18n";

/** A labelled file input for a photo (JPEG, PNG or WebP, as the photo routes accept). */
export function PhotoPicker({ id, label, disabled, onPick }: { id: string; label: string; disabled?: boolean; onPick(file: File): void }) {
  return (
    <span class="photo-picker">
      <label for={id}>{label}</label>{" "}
      <input
        id={id}
        type="file"
        accept="image/jpeg,image/png,image/webp"
        disabled={disabled}
        aria-describedby={`${id}-hint`}
        onChange={(e) => {
          const file = e.currentTarget.files?.[0];
          if (file) onPick(file);
          e.currentTarget.value = "";
        }}
      />
      <span id={`${id}-hint`} class="hint-start">
        {t("photo.hint")}
      </span>
    </span>
  );
}
