import { useState } from "preact/hooks";

/** A destructive action asked twice: the first press shows what will happen and a confirm button. */
export function ConfirmButton({
  text,
  label,
  question,
  confirmLabel,
  onConfirm,
  busy = false,
}: {
  text: string; // what the first button shows, e.g. "Revoke"
  label: string; // its accessible name, e.g. "Revoke passkey Phone"
  question: string; // e.g. "Revoke Phone? It will no longer sign you in."
  confirmLabel: string; // e.g. "Yes, revoke Phone"
  onConfirm: () => void;
  busy?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button
        type="button"
        class="btn id-danger-quiet"
        aria-label={label}
        disabled={busy}
        onClick={() => setAsking(true)}
      >
        {text}
      </button>
    );
  }
  return (
    <div class="id-confirm" role="group" aria-label={question}>
      <p>{question}</p>
      <div class="row">
        <button
          type="button"
          class="btn btn-danger"
          disabled={busy}
          onClick={() => {
            setAsking(false);
            onConfirm();
          }}
        >
          {confirmLabel}
        </button>
        <button type="button" class="btn" onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
