// Keys made in the browser (issue #10.2): WebCrypto makes the key pair, PKI.js (vendored, see
// vendor/README.md) writes the PKCS#10 request and the password-protected PKCS#12 file. The
// private key leaves WebCrypto only inside the encrypted PFX the user saves; the server sees the
// CSR alone. No DOM here, so the same module runs under Node for checks.
import * as pki from "./vendor/pkijs.bundle.js";

const { asn1js } = pki;
const hashes = { SHA256: "SHA-256", SHA384: "SHA-384", SHA512: "SHA-512" };

// PBKDF2 iterations for the PFX: the count .NET and Windows use for AES-256 PKCS#12 files.
const pfxIterations = 100000;

/** The WebCrypto algorithm a template's key asks for (KeyAlgorithm, KeySize, HashAlgorithm in the generation options). */
export function keyAlgorithm(option) {
  const hash = hashes[option.hash] ?? "SHA-256";
  switch (option.algorithm) {
    case "EcdsaP256":
      return { name: "ECDSA", namedCurve: "P-256", hash };
    case "EcdsaP384":
      return { name: "ECDSA", namedCurve: "P-384", hash };
    case "Rsa":
      return { name: "RSASSA-PKCS1-v1_5", modulusLength: option.keySize, publicExponent: new Uint8Array([1, 0, 1]), hash };
    default:
      throw new Error(`The browser cannot make a ${option.algorithm} key.`);
  }
}

/** A new key pair and its PKCS#10 request (PEM) for one generation option. The key is extractable only so that it can go into the PFX. */
export async function makeKeyAndRequest(option, crypto = globalThis.crypto) {
  const algorithm = keyAlgorithm(option);
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const request = new pki.CertificationRequest();

  // The CA writes the subject from the directory (SPEC §7); the request names the template's common name only as a hint.
  request.subject.typesAndValues.push(new pki.AttributeTypeAndValue({
    type: "2.5.4.3",
    value: new asn1js.Utf8String({ value: option.commonName || "OpenCM" }),
  }));
  // RFC 2986 makes the attributes field mandatory, even empty; PKI.js leaves it out unless set.
  request.attributes = [];
  await request.subjectPublicKeyInfo.importKey(keys.publicKey);
  await request.sign(keys.privateKey, algorithm.hash);
  return { keys, pem: pem("CERTIFICATE REQUEST", request.toSchema().toBER(false)) };
}

/** The certificates of a certs-only PKCS#7 (base64 DER), the one whose public key matches first. */
export async function certificatesOf(pkcs7Base64, publicKey, crypto = globalThis.crypto) {
  const info = pki.ContentInfo.fromBER(fromBase64(pkcs7Base64));
  const signed = new pki.SignedData({ schema: info.content });
  const certificates = (signed.certificates ?? []).filter((c) => c instanceof pki.Certificate);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  const own = certificates.findIndex((c) => equal(new Uint8Array(c.subjectPublicKeyInfo.toSchema().toBER(false)), spki));
  if (own < 0) {
    throw new Error("The CA's answer holds no certificate for the key made here.");
  }

  return [certificates[own], ...certificates.filter((_, i) => i !== own)];
}

/**
 * A PKCS#12 file holding the private key (PBES2: PBKDF2-SHA256, AES-256-CBC) and its certificates,
 * with an HMAC-SHA256 integrity check: what Windows, .NET and OpenSSL 3 read and write by default.
 */
export async function makePfx(privateKey, certificates, password, friendlyName, crypto = globalThis.crypto) {
  const secret = new TextEncoder().encode(password).buffer;
  const keyInfo = pki.PrivateKeyInfo.fromBER(await crypto.subtle.exportKey("pkcs8", privateKey));
  const localKeyId = new Uint8Array(await crypto.subtle.digest("SHA-1", certificates[0].toSchema().toBER(false)));
  const attributes = (withKeyId) => [
    ...(withKeyId ? [new pki.Attribute({ type: "1.2.840.113549.1.9.21", values: [new asn1js.OctetString({ valueHex: localKeyId })] })] : []),
    ...(friendlyName && withKeyId ? [new pki.Attribute({ type: "1.2.840.113549.1.9.20", values: [new asn1js.BmpString({ value: friendlyName })] })] : []),
  ];
  const keyBag = new pki.SafeBag({
    bagId: "1.2.840.113549.1.12.10.1.2",
    bagValue: new pki.PKCS8ShroudedKeyBag({ parsedValue: keyInfo }),
    bagAttributes: attributes(true),
  });
  const certBags = certificates.map((certificate, i) => new pki.SafeBag({
    bagId: "1.2.840.113549.1.12.10.1.3",
    bagValue: new pki.CertBag({ parsedValue: certificate }),
    bagAttributes: i === 0 ? attributes(true) : undefined,
  }));
  const encryption = { password: secret, contentEncryptionAlgorithm: { name: "AES-CBC", length: 256 }, hmacHashAlgorithm: "SHA-256", iterationCount: pfxIterations };
  const pfx = new pki.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pki.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            { privacyMode: 0, value: new pki.SafeContents({ safeBags: [keyBag] }) },
            { privacyMode: 1, value: new pki.SafeContents({ safeBags: certBags }) },
          ],
        },
      }),
    },
  });
  await keyBag.bagValue.makeInternalValues(encryption, pki.getCrypto(true));
  await pfx.parsedValue.authenticatedSafe.makeInternalValues({ safeContents: [{}, encryption] }, pki.getCrypto(true));
  await pfx.makeInternalValues({ password: secret, iterations: pfxIterations, pbkdf2HashAlgorithm: "SHA-256", hmacHashAlgorithm: "SHA-256" }, pki.getCrypto(true));
  return new Uint8Array(pfx.toSchema().toBER(false));
}

export function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    bytes[i] = raw.charCodeAt(i);
  }

  return bytes.buffer;
}

function pem(label, der) {
  const bytes = new Uint8Array(der);
  let raw = "";
  for (const b of bytes) {
    raw += String.fromCharCode(b);
  }

  const body = btoa(raw).replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
