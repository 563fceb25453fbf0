'use strict';
// The few Azure Storage REST calls the emulator itself makes against Azurite
// (setup and the DM loop), authorised by an account SAS. Each throws on an
// unexpected status with the service's answer in the message.

const { ACCOUNT } = require('./sas');

const XMS_VERSION = '2021-08-06';

class StorageRest {
  /** @param {{blob,queue,table}} urls Azurite's service base URLs; @param {string} sas */
  constructor(urls, sas) { this.urls = urls; this.sas = sas; }

  url(service, path, query = '') {
    return `${this.urls[service]}/${ACCOUNT}/${path}?${query ? `${query}&` : ''}${this.sas}`;
  }

  async call(method, url, { body, headers = {}, ok = [200, 201, 202, 204] } = {}) {
    const res = await fetch(url, { method, body, headers: { 'x-ms-version': XMS_VERSION, ...headers } });
    const buf = Buffer.from(await res.arrayBuffer());
    if (!ok.includes(res.status)) {
      throw new Error(`${method} ${url.split('?')[0]}: ${res.status} ${buf.toString().slice(0, 300)}`);
    }
    return { status: res.status, body: buf, headers: res.headers };
  }

  createContainer(name) {
    return this.call('PUT', this.url('blob', name, 'restype=container'), { ok: [201, 409] });
  }

  createQueue(name) { return this.call('PUT', this.url('queue', name), { ok: [201, 204, 409] }); }

  createTable(name) {
    return this.call('POST', this.url('table', 'Tables'), {
      body: JSON.stringify({ TableName: name }),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json;odata=nometadata' },
      ok: [201, 204, 409],
    });
  }

  async getBlob(url) { return (await this.call('GET', url)).body; }

  /** Up to 32 visible messages: [{ id, popReceipt, text, dequeueCount }]. */
  async getMessages(queue, visibilitySeconds = 60) {
    const r = await this.call('GET', this.url('queue', `${queue}/messages`,
      `numofmessages=32&visibilitytimeout=${visibilitySeconds}`));
    const xml = r.body.toString();
    const out = [];
    for (const m of xml.matchAll(/<QueueMessage>([\s\S]*?)<\/QueueMessage>/g)) {
      const field = (n) => (new RegExp(`<${n}>([\\s\\S]*?)</${n}>`).exec(m[1]) || [])[1];
      out.push({ id: field('MessageId'), popReceipt: field('PopReceipt'),
        text: unescapeXml(field('MessageText') || ''), dequeueCount: Number(field('DequeueCount') || 1) });
    }
    return out;
  }

  deleteMessage(queue, msg) {
    return this.call('DELETE', this.url('queue', `${queue}/messages/${msg.id}`,
      `popreceipt=${encodeURIComponent(msg.popReceipt)}`), { ok: [204, 404] });
  }

  putMessage(queue, text) {
    return this.call('POST', this.url('queue', `${queue}/messages`), {
      body: `<QueueMessage><MessageText>${text}</MessageText></QueueMessage>`,
      headers: { 'Content-Type': 'application/xml' },
    });
  }

  /** Merge properties into an entity, creating it if needed (InsertOrMerge). */
  mergeEntity(table, pk, rk, props) {
    const key = `${table}(PartitionKey='${encodeURIComponent(pk)}',RowKey='${encodeURIComponent(rk)}')`;
    return this.call('MERGE', this.url('table', key), {
      body: JSON.stringify({ PartitionKey: pk, RowKey: rk, ...props }),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json;odata=nometadata' },
    });
  }
}

function unescapeXml(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

module.exports = { StorageRest };
