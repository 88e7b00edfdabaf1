namespace OpenCM.Application;

/// <summary>Seals private keys for archival under a key the database alone does not reveal.</summary>
public interface IKeySealer
{
    string Seal(string context, byte[] plaintext);

    byte[] Open(string context, string sealedValue);
}
