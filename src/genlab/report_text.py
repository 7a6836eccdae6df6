"""Plain-language explanations that open each part of the report, for a student meeting these
models for the first time. Kept apart from the HTML code so they can be read and edited as prose.
"""

GENERATIVE_INTRO = """
<p>The models here learn from the same pictures and are built from the same convolutional
blocks: an <b>encoder</b> (a stack of strided convolutions) squeezes an image into a short vector
of numbers, the <b>latent code</b>, and a <b>decoder</b> (transposed convolutions, the encoder run
backwards) turns such a vector back into an image. The first three differ in what they ask of that
code; the fourth uses the same two halves in a different way.</p>
<ul>
<li><b>Convolutional autoencoder (CAE).</b> Trained only to reproduce its input: encoder then
decoder, with the pixel error as the loss. Its reconstructions are good, but nothing makes its
latent space tidy, so a random vector often decodes to nonsense; to sample from it genlab fits a
Gaussian to the codes of the training images and decodes draws from that.</li>
<li><b>Variational autoencoder (VAE).</b> The encoder outputs a mean and a spread for every latent
dimension, and a <b>sampling layer</b> draws the code from them (z = mu + sigma * eps, so gradients
still flow). Besides the reconstruction error the loss has a <b>KL term</b> that pulls each of these
small Gaussians towards a standard normal. That packs the codes into one smooth cloud, so any
random draw from N(0, I) decodes to a plausible image and interpolations change gradually. The price
is blur: averaging over nearby codes softens details.</li>
<li><b>Generative adversarial network (GAN).</b> No encoder: a <b>generator</b> (a decoder) maps
random noise to images, and a <b>discriminator</b> (an encoder ending in one number) learns to tell
real images from generated ones. The two are trained against each other with the
<b>adversarial loss</b>: the discriminator is rewarded for telling them apart, the generator for
fooling it. Nothing compares pixels, so samples are sharp, but training is a balancing act and can
collapse onto a few outputs; genlab samples from a moving average of the generator's weights, which
is steadier.</li>
<li><b>Diffusion model.</b> Training takes a real image, mixes it with random noise by a random
amount (<b>forward noising</b>: a little noise at time t near 0, pure noise at t = 1) and asks a
network to undo the mixing: given the noisy image and t, predict the direction from noise to image.
The network is a <b>U-Net</b>: the encoder's stages, then the decoder's, with each encoder stage
also handed straight to the decoder stage of the same size (skip connections), so fine detail
survives. To <b>sample</b>, start from pure noise and take small steps along the predicted direction
until t = 0; the "denoise" figure shows every step. There is no latent bottleneck and no adversary:
the loss is a plain regression on every training image, so the model must cover all of the data (a
GAN may ignore the parts it finds hard) and it never averages over a blurred code (as a VAE does).
The price is at sampling time: each image costs one or two network passes per step (19 for the
default 10 steps of Heun's solver) where the others need one, and twice that with
<b>autoguidance</b>: genlab keeps a copy of the network from early in training and pushes every step
away from what that weaker copy would do, towards what the finished network learned since (sharper,
more varied faces); the table's sampling column shows what that costs. On punks it works at their
own 24x24 pixels and enlarges its drawings the way the data was enlarged, which halves its training
time. genlab trains it by <i>flow matching</i> (a straight path from noise to image) and samples
with a deterministic solver, so the same noise always gives the same image and a real image can be
run backwards to the noise it comes from, which is what its reconstructions, real-image
interpolations and latent map use.</li>
</ul>
<p>Interpolation walks in a straight line (<i>linear</i>) or along the sphere where Gaussian
samples live (<i>slerp</i>) between two latent points and decodes every step; the latent map
places each encoded image by t-SNE so that similar codes sit close together.</p>
"""

METRICS_INTRO = """
<p>How good are the samples? Each metric compares a set of generated images with real ones in a
<b>feature space</b>: images are passed through a classifier and compared by its internal features,
not by raw pixels. <b>FID</b> fits a Gaussian to each set of features and measures the distance
between the two (0 means identical statistics; lower is better). <b>KID</b> asks the same with a
kernel and has no bias at small sample sizes. <b>Precision</b> is the share of generated images that
fall among real ones (are the samples realistic?), <b>recall</b> the share of real images that the
samples cover (is the variety there?). Two halves of the real data scored against each other give
the <b>noise floor</b>: no model can be expected to beat it.</p>
"""

ARITH_INTRO = """
<p>An <b>encoder-decoder recurrent model</b> reads a query such as <code>81+24</code> one symbol
at a time. The <b>encoder</b> (an LSTM or GRU) updates a hidden state after every symbol, so that
at the end that state summarises the whole query. The <b>decoder</b>, another recurrent network,
starts from that summary and writes the answer one character at a time (<code>105</code>); in the
autoregressive version each character it writes is fed back in to help choose the next. When the
query is written in handwriting, a small convolutional network first turns each 28x28 digit image
into a vector for the encoder; when the answer must be drawn, the decoder's output at each step goes
through transposed convolutions to a 28x28 image, which a separate digit classifier reads back.</p>
<p><b>Accuracy</b> here always means the whole answer is right (exact match), measured on queries
the model never saw in training and, for handwriting, on writers' digits never seen in training.
Per-character accuracy is shown beside it and labelled as such: it flatters a model, since
<code>104</code> for <code>105</code> is two-thirds right but still a wrong answer.</p>
"""

SPLITS_INTRO = """
<p>How much of the 20,000 possible queries must a model see to generalise? Each line trains on a
fraction of them and is tested on the rest. One and two encoder layers are compared (the
assignment's "add recurrent layers" question): a second layer costs about 1.5 times the time per
step. Whether it pays off depends on the data and on how long it trains: trained fully at the
defaults, one and two layers come within half a point of each other from 10% of the queries up,
while at 5% either can win by tens of points (see benchmarks/RESULTS.md).</p>
"""

TRANSFORMER_INTRO = """
<p>The <b>transformer</b> rows replace the recurrent layers with attention: instead of passing a
state from symbol to symbol, every position of the query looks at every other at once, and the
decoder looks at the whole query at every answer character. It needs no recurrence, so it trains in
parallel on a GPU, but it has to learn where each digit sits from position embeddings, which takes
data: compare its rows with the recurrent model's at the same fraction of queries.</p>
"""

WARM_START_INTRO = """
<p><b>Started from another model</b> (the "started from" column): a model that reads handwritten
queries needs to learn two things, to read each handwritten character and to do the arithmetic.
The glyph classifier already reads; the model that answers the same questions from typed text
already adds and subtracts. So these models start from that finished text model, on the same
training queries: the character the classifier reads in each cell enters where the text model's
embedding of that character did, and they answer correctly from their first step. A short training
lets them settle on the classifier's readings. Their test queries stay unseen: the text model was
trained on the same split.</p>
"""

HANDWRITING_INTRO = """
<p><b>What can you say about the appearance of these generated images?</b> The assignment's decoder,
trained to match one random real drawing of each answer digit, learns the average of all the ways
the digit is written: a blur. Here every answer digit is written anew: a small conditional decoder
draws the character the model decided on in a style taken from a real writer (for handwriting
queries, from the query's own digits; otherwise from one of the more typical real writers), so the
same answer comes out differently each time and stays legible. The numbers say how well: read back
is the share of answers a separate digit classifier reads right; FID compares the drawn digits with
real unseen handwriting in that classifier's feature space, in the same mix of digits (answers hold
far more 1s than handwriting does), beside the floor of real digits against real digits; diversity
is how different two drawings of the same digit are, as a share of how different two real
writers' are.</p>
"""

ERRORS_INTRO = """
<p>Which mistakes does a model make? Errors are split by operator, by whether the sum needs a carry
(or the difference a borrow), by sign and length of the answer, and by how far the predicted number
is off. The heatmaps show the error rate over every pair of operands.</p>
"""

CONDITIONAL_INTRO = """
<p>A conditional model is told what to draw: a digit, or a punk's type and accessories. To check
that it drew what was asked, every image is read back by genlab's own classifier (the digit
classifier, or the punks reader: the punks attribute classifier trained a few epochs further at
the punks' own pixels, with the rare types shown more often), and the same classifier reads real
images of the same request: that is the ceiling, because the classifier itself makes mistakes. The
punks reader is separate so that the feature space every punks FID is measured in stays the same.
A 32x32 punk is read at its own 24x24 pixels (one pixel of each block that enlarging the
punks copied), not blurred down to them. Each class or type is asked for equally often, so the rare
ones (the 9 aliens of 10,000 punks) are measured as carefully as the common ones; training also
draws them more often than the data has them (<code>--condition-balance</code>). FID per class
compares the class's images with real images of it. The conditional GAN's generator reads the
request beside its noise; its discriminator asks both "is this image real?" and "does it show what
was asked?", and a classifier head of its own, learnt on real images, reads the request back from
every image, which the generator learns to satisfy (<code>--aux-weight</code>).</p>
"""

SUMMARY_INTRO = """
<p>Each model's headline number, measured in this run, beside the figure that the assignment's
student reports give for the same model. FID compares generated with real images in a classifier's
feature space (lower is better; the floor is two halves of the real data against each other);
exact match counts an answer right only when every character is; read back means a drawn answer
was read by genlab's digit classifier and every character came out right. The parts below show how
each number was measured.</p>
"""

# what the assignment's student reports give for the image models (they report no number that could
# sit beside a measured FID)
ASSIGNMENT_IMAGE_REPORTS = {
    "cae": "reconstructions shown, sample quality not measured",
    "vae": "blurry samples; the FID they computed came out as a complex number",
    "gan": "blurry samples; the FID they computed came out as a complex number",
}
