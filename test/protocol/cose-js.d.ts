/** The part of cose-js (JavaScript, untyped) that the interop tests call: COSE_Sign1 create and verify. */
declare module "cose-js" {
  interface Sign1Headers {
    p?: { alg?: "ES256" | "ES384" | "ES512" };
    u?: { kid?: string };
  }
  interface CoseSigner {
    key: { d: Buffer };
    externalAAD?: Buffer;
  }
  interface CoseVerifier {
    key: { x: Buffer; y: Buffer };
    externalAAD?: Buffer;
  }
  const cose: {
    sign: {
      create(headers: Sign1Headers, payload: Buffer, signer: CoseSigner, options?: { excludetag?: boolean }): Promise<Buffer>;
      verify(message: Uint8Array, verifier: CoseVerifier, options?: { defaultType?: number }): Promise<Buffer>;
      Sign1Tag: number;
    };
  };
  export default cose;
}
