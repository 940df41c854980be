/**
 * A stand-in for a real mail client, shared by the example handlers. Files
 * whose name starts with "_" are helpers: the worker does not load them as
 * handlers.
 */
export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Receipt {
  messageId: string;
  to: string;
  subject: string;
}

/** Pretends to send; a real one would call SMTP or an email API with `signal`. */
export async function sendMail(mail: Mail, signal: AbortSignal): Promise<Receipt> {
  signal.throwIfAborted();
  if (!/^[^@\s]+@[^@\s]+$/.test(mail.to)) throw new Error(`not an email address: ${mail.to}`);
  return { messageId: `<${Date.now().toString(36)}@example.invalid>`, to: mail.to, subject: mail.subject };
}
