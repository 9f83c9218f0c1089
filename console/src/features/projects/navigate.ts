/** Leave for a URL (a presigned download answers with Content-Disposition: attachment, so the page stays). */
export function goTo(url: string): void {
  window.location.assign(url);
}
