using System.Security.Cryptography;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Authority.Pkcs11.Tests;

/// <summary>
/// A token that goes away mid-run (issue #20): signing fails as Unavailable (a 503 problem), and
/// the pool recovers by itself once the token is back. SoftHSM2 loses a token when its directory
/// under the token directory disappears; moving it aside and back stands in for pulling an HSM.
/// </summary>
[Collection(SoftHsmCollection.Name)]
public sealed class TokenLossTests
{
    [SkippableFact]
    public async Task Sign_TokenDirectoryMovedAsideThenBack_UnavailableThenRecovers()
    {
        var hsm = await Pkcs11TokenTests.HsmAsync();
        const string label = Pkcs11TokenTests.LossToken;
        using var token = Pkcs11Token.Open(Pkcs11TokenTests.Options(label));
        var key = Pkcs11TokenTests.NewLabel("loss");
        token.Generate(key, CaKeyAlgorithm.EcdsaP256);
        var generator = token.OpenKey(key);
        var data = RandomNumberGenerator.GetBytes(64);
        generator.SignData(data, HashAlgorithmName.SHA256);

        var directory = TokenDirectoryOf(hsm, label);
        // Outside the token directory: SoftHSM takes any directory in it for a token.
        var aside = Path.Combine(Path.GetDirectoryName(hsm.TokenDirectory)!, "aside-" + Path.GetFileName(directory));
        Directory.Move(directory, aside);
        try
        {
            var e = Assert.Throws<OpenCmException>(() => generator.SignData(data, HashAlgorithmName.SHA256));
            Assert.Equal(ErrorKind.Unavailable, e.Error.Kind);
            Assert.Contains($"token '{label}'", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Move(aside, directory);
        }

        // Back: the next calls (a client retrying its 503) find the token again, without a restart.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                Assert.NotEmpty(generator.SignData(data, HashAlgorithmName.SHA256));
                break;
            }
            catch (OpenCmException e) when (e.Error.Kind == ErrorKind.Unavailable && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    // SoftHSM keeps each token in a directory of its own holding token.object (with the label inside).
    private static string TokenDirectoryOf(SoftHsmToken hsm, string label) =>
        Directory.GetDirectories(hsm.TokenDirectory).Single(d =>
            File.Exists(Path.Combine(d, "token.object")) && File.ReadAllBytes(Path.Combine(d, "token.object")).AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(label)) >= 0);
}

/// <summary>SoftHSM tests share the process's module (and its login state): one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class SoftHsmCollection
{
    public const string Name = "SoftHSM";
}
